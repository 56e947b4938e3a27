"""Secrets read by id through Powertools' provider: cached for a while, then read again (a rotation is seen)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters import GetParameterError

from shared.secrets import CachedSecrets, SecretNotConfiguredError, secrets
from tests.unit.functions.conftest import make_settings

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:webhook-AbCdEf"


class FakeSecretsManager:
    """``get_secret_value`` over a dict; counts the calls."""

    def __init__(self, **values: Any) -> None:
        self.values, self.calls = values, 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        if SecretId not in self.values:
            raise RuntimeError("ResourceNotFoundException: Secrets Manager can't find the specified secret.")
        value = self.values[SecretId]
        return {"ARN": SecretId, "SecretBinary": value} if isinstance(value, bytes) else {"ARN": SecretId,
                                                                                          "SecretString": value}


def test_a_secret_is_read_once_and_served_from_the_cache_while_fresh():
    manager = FakeSecretsManager(**{ARN: "master-1"})
    read = CachedSecrets(manager, max_age_s=60)
    assert [read(ARN) for _ in range(3)] == ["master-1"] * 3
    assert manager.calls == 1
    manager.values[ARN] = "master-2"  # rotated: seen once the cached value is older than max_age_s
    assert read(ARN) == "master-1"


def test_a_stale_value_is_read_again_so_a_rotation_is_seen():
    manager = FakeSecretsManager(**{ARN: "master-1"})
    read = CachedSecrets(manager, max_age_s=0)
    assert read(ARN) == "master-1"
    manager.values[ARN] = "master-2"
    assert read(ARN) == "master-2" and manager.calls == 2


def test_a_binary_secret_is_decoded_and_an_unreadable_or_unnamed_one_raises():
    read = CachedSecrets(FakeSecretsManager(**{ARN: b"bytes-master"}))
    assert read(ARN) == "bytes-master"
    with pytest.raises(GetParameterError, match="can't find"):
        read("arn:aws:secretsmanager:us-east-1:123456789012:secret:missing")
    with pytest.raises(SecretNotConfiguredError):
        read("")  # WEBHOOK_SECRET_ID unset: a deployment error, said as such


def test_the_process_keeps_one_reader_per_endpoint_so_warm_invocations_share_its_cache(monkeypatch):
    from shared import secrets as module

    built: list[str | None] = []
    monkeypatch.setattr(module, "client", lambda service, settings: built.append(settings.aws_endpoint_url)
                        or FakeSecretsManager(**{ARN: "master"}))
    monkeypatch.setattr(module, "_READERS", {})
    local, other = make_settings(aws_endpoint_url="http://127.0.0.1:5000"), make_settings()
    assert secrets(local) is secrets(local) and secrets(local)(ARN) == "master"
    assert secrets(other) is not secrets(local)
    assert built == ["http://127.0.0.1:5000", None]  # one Secrets Manager client per endpoint
