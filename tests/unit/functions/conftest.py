"""The API's components over in-memory fakes, with a clock that stands still."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.api.services import Services
from shared.accounts import ApiKey, Limits
from shared.records import JobRecord, OutputFile
from shared.settings import Settings
from shared.states import JobState
from tests.support.fakes import FakeClock, FakeObjectStore, FakeQueue
from tests.support.job_table import FakeJobTable
from tests.unit.conftest import BUCKET, QUEUE_URL
from tests.unit.functions.issuer import FakeIssuer, Monotonic

NOW = datetime(2030, 5, 17, 10, 59, 0, tzinfo=UTC)  # one minute before a rate-limit window ends
OWNER, OTHER = "owner-a", "owner-b"
LYRICS_REQUEST = {"lyrics": "[00:00.00]Line 1\n[00:05.00]Line 2", "style_prompt": "pop, upbeat", "auto_master": False}


def make_settings(**overrides: Any) -> Settings:
    """Settings from the defaults and ``overrides`` only: an env prefix nobody sets keeps the environment out."""
    values = {"bucket_name": BUCKET, "queue_url": QUEUE_URL, "rate_limit_per_hour": 3, "orphan_after_s": 300,
              "allow_anonymous": True, "allow_insecure_webhooks": False, "estimated_job_minutes": 2.0,
              "worker_capacity": 1, **overrides}
    return Settings(_env_prefix="DIFFRHYTHM_UNIT_TEST_", **values)


def api_key(customer: str, key_id: str = "", **limits: int) -> ApiKey:
    """An API key of ``customer`` (``limits`` override the defaults)."""
    key_id = key_id or "key_" + hashlib.sha256(customer.encode()).hexdigest()[:16]
    return ApiKey(key_id=key_id, customer=customer, created_at=NOW, limits=Limits(**limits))


class FakeKeys:
    """The keys table as ``Authenticator`` uses it: ``lookup`` of usable keys, counted; ``revoke`` by token."""

    def __init__(self, keys: dict[str, ApiKey] | None = None) -> None:
        self.keys = dict(keys or {})
        self.lookups = 0
        self.failing: Exception | None = None

    def lookup(self, token: str) -> ApiKey | None:
        self.lookups += 1
        if self.failing:
            raise self.failing
        key = self.keys.get(token)
        return key if key is not None and key.revoked_at is None else None

    def revoke(self, token: str) -> None:
        self.keys[token] = self.keys[token].model_copy(update={"revoked_at": NOW})


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


#: what the fake resolver knows (anything else does not exist): public hosts, and some that point inside
DNS = {"example.com": ["93.184.216.34"], "hooks.example.com": ["93.184.216.34"], "localhost": ["127.0.0.1"],
       "metadata.example.com": ["169.254.169.254"], "mixed.example.com": ["93.184.216.34", "10.0.0.7"]}
#: hosts whose lookup fails for now (the resolver's SERVFAIL or timeout), with the error the system resolver raises
DNS_DOWN = {"flaky.example.com"}


def resolve(host: str, port: int) -> list[str]:
    """A resolver over ``DNS``; IP literals resolve to themselves, as the system resolver does."""
    import ipaddress
    import socket

    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    if host in DNS_DOWN:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    if host not in DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return DNS[host]


@pytest.fixture
def services(settings: Settings, table: FakeJobTable, s3: FakeObjectStore, sqs: FakeQueue,
             clock: FakeClock) -> Services:
    return Services.build(settings, table, s3, sqs, clock, resolve)


def put_job(table: FakeJobTable, *, owner: str = OWNER, status: JobState = JobState.QUEUED, age_s: float = 0,
            enqueued: bool = True, outputs: tuple[str, ...] = (), **fields: Any) -> JobRecord:
    """Store a job created ``age_s`` before ``NOW``; ``outputs`` names formats of variation 0 (e.g. "wav")."""
    job_id = str(uuid.uuid4())
    created = NOW - timedelta(seconds=age_s)
    record = JobRecord(
        job_id=job_id, owner=owner, status=status, created_at=created, updated_at=created,
        enqueued_at=created if enqueued else None, expires_at=JobRecord.ttl(created, 30),
        request_key=f"requests/{job_id}.json", request_sha256="0" * 64, audio_length=95, batch_size=1,
        output_format="wav", seed=1,
        outputs=[OutputFile(index=0, format=f, key=f"outputs/{job_id}/0.{f}", size_bytes=10) for f in outputs],
        **fields,
    )
    table.jobs[job_id] = record
    return record


@pytest.fixture
def issuer() -> FakeIssuer:
    """An OIDC issuer of its own: RSA key, JWKS, tokens (tests/unit/functions/issuer.py)."""
    return FakeIssuer()


@pytest.fixture
def monotonic() -> Monotonic:
    """Monotonic seconds that move only when a test says (key cache, JWKS refetches)."""
    return Monotonic()
