"""``shared.accounts.KeyStore`` against DynamoDB (a moto server of its own) at injected times: only hashes stored,
imported values, rotation with a grace, revocation, limits and listing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.accounts import (
    DuplicateKeyError,
    KeyStore,
    Limits,
    RevokedKeyError,
    UnknownKeyError,
)
from tests.support.fakes import FakeClock
from tests.support.moto import aws_client, create_keys_table, items, moto_server

START = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    with moto_server() as endpoint:
        yield aws_client("dynamodb", endpoint)


@pytest.fixture
def table(dynamodb: Any) -> str:
    return create_keys_table(dynamodb)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def store(dynamodb: Any, table: str, clock: FakeClock) -> KeyStore:
    return KeyStore(dynamodb, table, clock=clock)


def test_a_created_key_is_found_by_its_token_and_the_table_holds_only_its_hash(store, dynamodb, table):
    key, token = store.create("acme", limits=Limits(jobs_per_hour=20), label="production")
    assert token.startswith("drk_") and len(token) == 4 + 43
    assert key.key_id.startswith("key_") and len(key.key_id) == 4 + 16
    assert (key.customer, key.label, key.created_at, key.limits.jobs_per_hour) == ("acme", "production", START, 20)
    assert store.lookup(token) == key
    assert store.lookup(token + "x") is None and store.lookup("drk_unknown") is None
    [item] = items(dynamodb, table)
    assert item["hash"] == {"S": hashlib.sha256(token.encode()).hexdigest()}
    assert item["owner"] == {"S": "acme"} and item["limits"] == {"M": {"jobs_per_hour": {"N": "20"}}}
    stored = json.dumps(item)
    assert token not in stored and token[4:] not in stored and token[4:24] not in stored


def test_an_imported_value_works_once_and_a_value_stored_already_is_refused(store, dynamodb, table):
    shipped = "frontend-shipped-key-0123456789"
    key, token = store.create("acme", value=shipped)
    assert token == shipped and store.lookup(shipped) == key
    with pytest.raises(DuplicateKeyError):
        store.create("other", value=shipped)
    assert store.lookup(shipped) == key  # the first key's secret is untouched
    for unusable in ("too-short-0123456789"[:19], "has a space 0123456789", "tab\tinside-0123456789012"):
        with pytest.raises(ValueError, match="20 to 512 printable"):
            store.create("acme", value=unusable)
    assert shipped not in json.dumps(items(dynamodb, table))
    assert len(items(dynamodb, table)) == 1


@pytest.mark.parametrize("customer", ["Acme", "a", "acme.eu", "-acme", "acme_corp", "", "a" * 64, "anonymous x"])
def test_a_customer_id_outside_the_pattern_is_refused_and_nothing_is_stored(store, dynamodb, table, customer):
    with pytest.raises(ValueError, match="must match"):
        store.create(customer)
    assert items(dynamodb, table) == []


def test_a_rotated_keys_old_token_works_until_the_grace_ends_and_the_new_one_keeps_the_key(store, clock):
    key, old = store.create("acme", limits=Limits(uploads_per_day=3), label="web")
    clock.advance(10)
    rotated, new = store.rotate(key.key_id, grace_s=60)
    assert new != old and new.startswith("drk_")
    assert (rotated.key_id, rotated.customer, rotated.label, rotated.limits) == (key.key_id, "acme", "web",
                                                                                 key.limits)
    assert rotated.created_at == START + timedelta(seconds=10) and rotated.not_after is None
    assert store.lookup(new) == rotated
    clock.advance(59.999)
    assert store.lookup(old) is not None
    assert store.lookup(old).not_after == START + timedelta(seconds=70)
    clock.advance(0.001)
    assert store.lookup(old) is None and store.lookup(new) == rotated
    assert store.list() == [rotated]


def test_rotating_again_never_extends_an_earlier_grace_and_grace_zero_stops_the_old_token_at_once(store, clock):
    key, first = store.create("acme")
    _, second = store.rotate(key.key_id, grace_s=600)
    _, third = store.rotate(key.key_id, grace_s=3600)
    clock.advance(600)
    assert store.lookup(first) is None  # its end stayed at 600 s
    assert store.lookup(second) is not None and store.lookup(third) is not None
    _, fourth = store.rotate(key.key_id)
    assert store.lookup(second) is None and store.lookup(third) is None and store.lookup(fourth) is not None


def test_revoking_stops_every_secret_of_the_key_and_a_revoked_key_cannot_be_rotated(store, clock):
    key, old = store.create("acme")
    other, other_token = store.create("acme")
    _, new = store.rotate(key.key_id, grace_s=3600)
    clock.advance(5)
    assert store.revoke(key.key_id) == 2
    assert store.lookup(old) is None and store.lookup(new) is None
    assert store.lookup(other_token) == other  # another key of the same customer is untouched
    assert store.revoke(key.key_id) == 0
    with pytest.raises(RevokedKeyError):
        store.rotate(key.key_id)
    [listed] = [k for k in store.list() if k.key_id == key.key_id]
    assert listed.revoked_at == START + timedelta(seconds=5)


def test_set_limits_changes_every_secret_of_the_key(store):
    key, old = store.create("acme", limits=Limits(jobs_per_hour=20))
    _, new = store.rotate(key.key_id, grace_s=3600)
    changed = store.set_limits(key.key_id, Limits(jobs_per_hour=5, gpu_seconds_per_day=0))
    assert changed.key_id == key.key_id and changed.limits == Limits(jobs_per_hour=5, gpu_seconds_per_day=0)
    assert store.lookup(old).limits == store.lookup(new).limits == changed.limits
    assert store.set_limits(key.key_id, Limits()).limits == Limits()
    assert store.lookup(old).limits == store.lookup(new).limits == Limits()  # back to the deployment's defaults
    assert store.list() == [changed.model_copy(update={"limits": Limits()})]


def test_list_shows_each_key_once_as_its_newest_secret_and_filters_by_customer(store, clock):
    first, _ = store.create("acme", label="one")
    clock.advance(1)
    store.rotate(first.key_id, grace_s=3600)
    clock.advance(1)
    newest, _ = store.rotate(first.key_id, grace_s=3600)
    clock.advance(1)
    second, _ = store.create("acme", label="two")
    third, _ = store.create("globex")
    assert store.list() == [newest, second, third]
    assert newest.created_at == START + timedelta(seconds=2) and newest.label == "one"
    assert store.list("acme") == [newest, second]
    assert store.list("globex") == [third] and store.list("initech") == []


def test_an_unknown_key_id_is_an_unknown_key_error_for_every_change(store):
    store.create("acme")
    for change in (lambda: store.rotate("key_0000000000000000"), lambda: store.revoke("key_0000000000000000"),
                   lambda: store.set_limits("key_0000000000000000", Limits())):
        with pytest.raises(UnknownKeyError, match="no key key_0000000000000000"):
            change()
