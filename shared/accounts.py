"""Who calls: accounts (who pays: quotas), owners (who sees which jobs) and API keys (stored hashed).

Owner ids are safe in S3 keys and never collide across kinds::

    acme                      an API key's customer (operator-chosen: ``[a-z0-9][a-z0-9-]{1,62}``, no dots)
    acme.eu.{sha256[:24]}     an end user a key acts for (``X-End-User``), scoped under the key's customer
    u.{sha256[:32]}           a signed-in user (JWT), from the issuer and ``sub``
    anonymous                 nobody signed in (the local stack only)
"""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.aws import conditional_failed
from shared.contract import Meter as Meter  # re-exported: quotas are part of the HTTP contract
from shared.records import utcnow
from shared.settings import Settings

CUSTOMER_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
ANONYMOUS = "anonymous"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def end_user_owner(customer: str, end_user: str) -> str:
    """The owner id of ``end_user`` acting under ``customer``'s key.

    >>> end_user_owner("acme", "alice@example.com")[:8]
    'acme.eu.'
    """
    return f"{customer}.eu.{_digest(end_user, 24)}"


def user_owner(issuer: str, subject: str) -> str:
    """The owner id of a signed-in user: their ``sub``, namespaced by the issuer."""
    return "u." + _digest(issuer + "\n" + subject, 32)


class Limits(BaseModel):
    """An account's quotas; ``None`` = the deployment's default (``Settings``), 0 = unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    units_per_hour: int | None = Field(None, ge=0, description="Cost units submitted per clock hour")
    jobs_per_hour: int | None = Field(None, ge=0, description="Jobs submitted per clock hour")
    gpu_seconds_per_day: int | None = Field(None, ge=0, description="GPU seconds used per UTC day")
    uploads_per_day: int | None = Field(None, ge=0, description="Uploads started per UTC day")

    def resolved(self, settings: Settings) -> Limits:
        """Every quota set: the defaults of ``settings`` where this one has none."""
        defaults = {Meter.UNITS_PER_HOUR: settings.rate_limit_per_hour, Meter.JOBS_PER_HOUR: settings.jobs_per_hour,
                    Meter.GPU_SECONDS_PER_DAY: settings.gpu_seconds_per_day,
                    Meter.UPLOADS_PER_DAY: settings.uploads_per_day}
        return Limits(**{m.value: v if (v := getattr(self, m.value)) is not None else defaults[m] for m in Meter})

    def of(self, meter: Meter) -> int:
        """The limit on ``meter`` (0 = unlimited; call on ``resolved`` limits)."""
        value: int | None = getattr(self, meter.value)
        return value or 0


@dataclass(frozen=True)
class Caller:
    """An authenticated request's identity.

    ``owner`` sees and acts on its own jobs and uploads only; ``account`` is charged (a key's end users share their
    key's account); ``key_id`` names the API key used, whose webhook secret signs the jobs' webhooks.
    """

    owner: str
    account: str
    limits: Limits
    kind: Literal["key", "end_user", "user", "anonymous"]
    key_id: str | None = None


# -- API keys --------------------------------------------------------------------------------------------------------
TOKEN_PREFIX = "drk_"
_IMPORTED_TOKEN = re.compile(r"^[\x21-\x7e]{20,512}$")  # printable ASCII without spaces: an HTTP header value
_HASH = {"#hash": "hash"}  # HASH is a reserved word of DynamoDB's expressions
_serializer, _deserializer = TypeSerializer(), TypeDeserializer()


class DuplicateKeyError(ValueError):
    """The imported token is a secret of a key already."""


class UnknownKeyError(LookupError):
    """No key has this key id."""


class RevokedKeyError(ValueError):
    """The key is revoked: it cannot be rotated."""


def token_hash(token: str) -> str:
    """What the keys table stores of a token (its hash key): the SHA-256 hex digest, never the token.

    >>> token_hash("drk_example") == hashlib.sha256(b"drk_example").hexdigest()
    True
    """
    return hashlib.sha256(token.encode()).hexdigest()


class ApiKey(BaseModel):
    """One API key as the operator sees it: no token, no hash. Rotation keeps ``key_id``, the customer, the label
    and the limits; each secret the key has had is one item of the keys table with these fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str = Field(description="Public and stable across rotations: 'key_' and 16 hex digits")
    customer: str = Field(description="The account and owner its callers are (CUSTOMER_PATTERN)")
    label: str = ""
    created_at: datetime = Field(description="When this secret was created")
    limits: Limits = Field(default_factory=Limits)
    revoked_at: datetime | None = None
    not_after: datetime | None = Field(None, description="This secret stops working then (rotated with a grace)")

    def usable(self, now: datetime) -> bool:
        """Not revoked, and before its end if it has one.

        >>> from datetime import UTC
        >>> key = ApiKey(key_id="key_0", customer="acme", created_at=datetime(2030, 1, 1, tzinfo=UTC),
        ...              not_after=datetime(2030, 1, 2, tzinfo=UTC))
        >>> key.usable(datetime(2030, 1, 1, 12, tzinfo=UTC)), key.usable(datetime(2030, 1, 2, tzinfo=UTC))
        (True, False)
        """
        return self.revoked_at is None and (self.not_after is None or now < self.not_after)


_Secret = tuple[str, ApiKey]  # one item of the keys table: the token's hash and the key as that item has it


_FIELDS = TypeAdapter(dict[str, Any])  # ApiKey fields -> JSON types (times as ISO strings)


def _item(key: ApiKey) -> dict[str, Any]:
    """``key``'s attributes in an item: ``owner`` = the customer, times as ISO-8601 strings, only the limits set."""
    fields = key.model_dump(mode="json", exclude_none=True)
    fields["owner"] = fields.pop("customer")
    return {name: _serializer.serialize(value) for name, value in fields.items()}


def _secret(item: dict[str, Any]) -> _Secret:
    """An item's hash and key (attributes ``ApiKey`` does not know, e.g. added by a later version, are left out)."""
    fields = {name: _deserializer.deserialize(value) for name, value in item.items()}
    digest, fields["customer"] = fields.pop("hash"), fields.pop("owner")
    return digest, ApiKey.model_validate({name: fields[name] for name in ApiKey.model_fields if name in fields})


def _current(found: builtins.list[_Secret]) -> ApiKey:
    """A key as its current secret has it: the one without an end if any (the newest rotation), else the newest."""
    return max((key for _, key in found), key=lambda key: (key.not_after is None, key.created_at))


class KeyStore:
    """The hashed API keys in their DynamoDB table (hash key ``hash``): one item per secret of a key.

    A token is ``drk_`` and 43 random URL-safe characters, or an imported value; only its SHA-256 is stored, so
    ``lookup`` is one GetItem and nothing read from the table authenticates. Listing and the changes by key id scan
    the table: it holds an operator's few keys, and no request path does either.

    Parameters
    ----------
    dynamodb
        A boto3 DynamoDB client (``shared.aws.client("dynamodb", settings)``).
    table_name
        The keys table (``Settings.keys_table_name``).
    clock
        Now, timezone-aware (tests pass their own).
    """

    def __init__(self, dynamodb: Any, table_name: str, clock: Callable[[], datetime] = utcnow) -> None:
        self._db, self._table, self._clock = dynamodb, table_name, clock

    def create(self, customer: str, *, limits: Limits = Limits(), label: str = "",
               value: str | None = None) -> tuple[ApiKey, str]:
        """A new key of ``customer`` and its token (shown once: only its hash is kept). ``value`` imports an
        existing token (20 to 512 printable characters, no spaces) instead of generating one.

        Raises ``ValueError`` for a customer id that does not match ``CUSTOMER_PATTERN`` or an unusable value, and
        ``DuplicateKeyError`` when the value is a secret of a key already.
        """
        if not CUSTOMER_PATTERN.match(customer):
            raise ValueError(f"customer {customer!r} must match {CUSTOMER_PATTERN.pattern}")
        if value is not None and not _IMPORTED_TOKEN.match(value):
            raise ValueError("an imported key must be 20 to 512 printable characters without spaces")
        key = ApiKey(key_id="key_" + secrets.token_hex(8), customer=customer, label=label,
                     created_at=self._clock(), limits=limits)
        return key, self._put(key, value)

    def lookup(self, token: str) -> ApiKey | None:
        """The key ``token`` is a secret of; None when it is none, or revoked, or past its ``not_after``."""
        response = self._db.get_item(TableName=self._table, Key={"hash": {"S": token_hash(token)}},
                                     ConsistentRead=True)
        if "Item" not in response:
            return None
        _, key = _secret(response["Item"])
        return key if key.usable(self._clock()) else None

    def list(self, customer: str | None = None) -> builtins.list[ApiKey]:
        """Every key (of ``customer``, if given) as its current secret has it, by customer and creation."""
        by_id: dict[str, builtins.list[_Secret]] = {}
        for digest, key in self._scan("owner", customer):
            by_id.setdefault(key.key_id, []).append((digest, key))
        return sorted(map(_current, by_id.values()), key=lambda key: (key.customer, key.created_at, key.key_id))

    def rotate(self, key_id: str, grace_s: float = 0) -> tuple[ApiKey, str]:
        """A new secret of ``key_id`` (same customer, label and limits) and its token. The previous secrets keep
        working ``grace_s`` seconds more (0: they stop now; an earlier end one had stays).

        Raises ``UnknownKeyError``, and ``RevokedKeyError`` for a revoked key.
        """
        if grace_s < 0:
            raise ValueError("grace_s must be >= 0")
        previous = self._secrets(key_id)
        current = _current(previous)
        if current.revoked_at is not None:
            raise RevokedKeyError(f"key {key_id} is revoked: create a new one")
        now = self._clock()
        rotated = current.model_copy(update={"created_at": now, "not_after": None})
        token = self._put(rotated, None)  # the new secret first, so the key always has one that works
        end = now + timedelta(seconds=grace_s)
        for digest, old in previous:
            if old.not_after is None or old.not_after > end:
                self._set(digest, unless_revoked=True, not_after=end)
        return rotated, token

    def revoke(self, key_id: str) -> int:
        """Revoke every secret of ``key_id`` now; returns how many were not revoked yet. Raises ``UnknownKeyError``."""
        now = self._clock()
        return sum(self._set(digest, unless_revoked=True, revoked_at=now)
                   for digest, old in self._secrets(key_id) if old.revoked_at is None)

    def set_limits(self, key_id: str, limits: Limits) -> ApiKey:
        """Replace the limits of ``key_id`` (on each of its secrets); returns the key. Raises ``UnknownKeyError``."""
        found = self._secrets(key_id)
        for digest, _ in found:
            self._set(digest, limits=limits)
        return _current(found).model_copy(update={"limits": limits})

    # -- items -----------------------------------------------------------------------------------------------------
    def _put(self, key: ApiKey, value: str | None) -> str:
        """Store a secret of ``key``: ``value`` or a new token, unless that hash is stored already; the token."""
        token = value if value is not None else TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            self._db.put_item(TableName=self._table, Item={**_item(key), "hash": {"S": token_hash(token)}},
                              ConditionExpression="attribute_not_exists(#hash)", ExpressionAttributeNames=_HASH)
        except ClientError as error:
            if conditional_failed(error):
                raise DuplicateKeyError("this value is a secret of a key already") from None
            raise
        return token

    def _set(self, digest: str, *, unless_revoked: bool = False, **fields: Any) -> bool:
        """Set ``fields`` (``ApiKey`` fields) on the secret stored as ``digest``; False when ``unless_revoked`` and
        it is revoked (a concurrent revoke)."""
        values = {f":{name}": _serializer.serialize(value)
                  for name, value in _FIELDS.dump_python(fields, mode="json", exclude_none=True).items()}
        names = _HASH | {f"#{name}": name for name in fields}
        condition = "attribute_exists(#hash)"
        if unless_revoked:
            condition, names["#revoked_at"] = condition + " AND attribute_not_exists(#revoked_at)", "revoked_at"
        try:
            self._db.update_item(
                TableName=self._table, Key={"hash": {"S": digest}}, ConditionExpression=condition,
                UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in fields),
                ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as error:
            if conditional_failed(error):
                return False
            raise
        return True

    def _secrets(self, key_id: str) -> builtins.list[_Secret]:
        found = builtins.list(self._scan("key_id", key_id))
        if not found:
            raise UnknownKeyError(f"no key {key_id}")
        return found

    def _scan(self, attribute: str, equal_to: str | None) -> Iterator[_Secret]:
        """Every stored secret, or those whose ``attribute`` is ``equal_to``."""
        where = {"FilterExpression": "#a = :v", "ExpressionAttributeNames": {"#a": attribute},
                 "ExpressionAttributeValues": {":v": {"S": equal_to}}} if equal_to is not None else {}
        for page in self._db.get_paginator("scan").paginate(TableName=self._table, ConsistentRead=True, **where):
            yield from map(_secret, page["Items"])
