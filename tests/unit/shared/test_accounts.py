"""``shared.accounts``' API keys without a table: what a key's times allow, and the refusals that come before any
call to DynamoDB (the key store against DynamoDB is tested on moto: tests/functional/test_key_store.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.accounts import ApiKey, KeyStore

NOW = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)


class NoTable:
    """A DynamoDB client that fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"DynamoDB was called ({name}) for a request that should be refused first")


def test_a_key_is_usable_until_it_is_revoked_or_its_end_is_reached():
    key = ApiKey(key_id="key_0123456789abcdef", customer="acme", created_at=NOW)
    assert key.usable(NOW) and key.usable(NOW + timedelta(days=3650))
    assert not key.model_copy(update={"revoked_at": NOW}).usable(NOW - timedelta(seconds=1))
    ending = key.model_copy(update={"not_after": NOW + timedelta(seconds=60)})
    assert ending.usable(NOW + timedelta(seconds=59.999)) and not ending.usable(NOW + timedelta(seconds=60))


@pytest.mark.parametrize(("customer", "value", "reason"), [
    ("acme.eu", None, "must match"),  # a dot would read as an end user's owner id
    ("ACME", None, "must match"),
    ("acme", "x" * 19, "20 to 512 printable"),
    ("acme", "x" * 513, "20 to 512 printable"),
    ("acme", "twenty-chars-but-é-non-ascii", "20 to 512 printable"),
])
def test_a_bad_customer_or_imported_value_is_refused_before_dynamodb_is_called(customer, value, reason):
    with pytest.raises(ValueError, match=reason):
        KeyStore(NoTable(), "keys").create(customer, value=value)


def test_a_negative_grace_is_refused_before_dynamodb_is_called():
    with pytest.raises(ValueError, match="grace_s"):
        KeyStore(NoTable(), "keys").rotate("key_0123456789abcdef", grace_s=-1)

