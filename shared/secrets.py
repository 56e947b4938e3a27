"""Secrets read from Secrets Manager by name or ARN, cached briefly: the same code on AWS and on the moto server.

Functions hold where a secret lives (an id in their settings, e.g. ``WEBHOOK_SECRET_ID``), never its value; IAM lets
only the functions that need one read it. A value is cached ``max_age_s`` seconds, so a rotated secret is seen within
that and a warm function does not call Secrets Manager for each record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from shared.aws import client
from shared.settings import Settings

MAX_AGE_S = 60


class SecretNotConfiguredError(LookupError):
    """No secret id was configured where one is needed (a deployment error, not the caller's)."""


class SecretReader(Protocol):
    """Reads a secret's value by its id (tests pass a dict's ``__getitem__`` or a lambda)."""

    def __call__(self, secret_id: str) -> str: ...


@dataclass
class CachedSecrets:
    """A ``SecretReader`` over a Secrets Manager client, caching each value ``max_age_s`` seconds."""

    secretsmanager: Any
    max_age_s: int = MAX_AGE_S
    _provider: SecretsProvider = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._provider = SecretsProvider(boto3_client=self.secretsmanager)

    def __call__(self, secret_id: str) -> str:
        """The secret's string (a binary secret decoded as UTF-8); ``SecretNotConfiguredError`` for an empty id,
        Powertools' ``GetParameterError`` when Secrets Manager refuses or fails."""
        if not secret_id:
            raise SecretNotConfiguredError("no secret id configured")
        value = self._provider.get(secret_id, max_age=self.max_age_s)
        if isinstance(value, bytes):
            return value.decode()
        if not isinstance(value, str) or not value:
            raise SecretNotConfiguredError(f"secret {secret_id} has no value")
        return value


_READERS: dict[tuple[str, str | None, int], CachedSecrets] = {}


def secrets(settings: Settings, max_age_s: int = MAX_AGE_S) -> SecretReader:
    """The process-wide reader for the endpoint of ``settings``: one cache per endpoint, kept across invocations."""
    key = (settings.aws_region, settings.aws_endpoint_url or None, max_age_s)
    if key not in _READERS:
        _READERS[key] = CachedSecrets(client("secretsmanager", settings), max_age_s)
    return _READERS[key]


def secret_value(settings: Settings, secret_id: str, max_age_s: int = MAX_AGE_S) -> str:
    """The value of secret ``secret_id`` (name or ARN), read through the cached reader of ``settings``."""
    return secrets(settings, max_age_s)(secret_id)
