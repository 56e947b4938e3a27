"""Fixtures every tier shares. Light at import: the local stack (moto server, API, dispatcher) and the model bundle
are built only when a test asks for them, so the fast tier never starts a server.

Tiers (``make test-fast`` runs the first): tests under ``tests/functional``, ``tests/e2e``, ``tests/browser`` and
``tests/container`` are marked ``stack`` (they drive the local stack over HTTP), those under ``tests/container`` also
``container`` (they run the worker image: a Docker engine and ``make image``); tests marked ``slow`` start
subprocesses or run whole songs.
Everything else is the fast tier: in-process, with in-memory fakes or tiny models; a guard fails any of its tests that
opens a network connection or starts a Python process (a library probing the system, as ctypes' ``find_library`` does
with ``ldconfig``, is not refused).
"""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from shared.contract import FRONTEND_EXAMPLE
from shared.settings import Settings

if TYPE_CHECKING:
    import requests

    from infrastructure.local.stack import LocalStack

T = TypeVar("T")
SEED_REQUEST = FRONTEND_EXAMPLE  # the seed report's Phase 4 example, unchanged
API_KEYS = [f"test-key-{i:03d}-{'x' * 12}" for i in range(200)]  # seeded in the stack's keys table, one customer each
ORIGIN = "https://app.example.com"
_STACK_DIRS = ("functional", "e2e", "browser", "container")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that need the local stack, and those that need the worker image, by folder."""
    tests = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(tests).parts if item.path.is_relative_to(tests) else ()
        if parts and parts[0] in _STACK_DIRS:
            item.add_marker(pytest.mark.stack)
        if parts and parts[0] == "container":
            item.add_marker(pytest.mark.container)


@pytest.fixture(autouse=True)
def _fast_tier_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests outside the ``slow`` and ``stack`` tiers may not connect anywhere or start Python processes."""
    if request.node.get_closest_marker("slow") or request.node.get_closest_marker("stack"):
        return
    popen, connect = subprocess.Popen.__init__, socket.socket.connect

    def guarded_popen(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        program = str(args[0] if isinstance(args, list | tuple) else args).split()[0]
        if Path(program).name.startswith("python") or program == sys.executable:
            raise AssertionError(f"a fast-tier test started {program}: mark it slow")
        popen(self, args, *rest, **kwargs)

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"a fast-tier test connected to {address}: use the fakes of tests/support")
        connect(self, address)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded_popen)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    from infrastructure.local.stack import LocalStack

    env = {"CORS_ORIGINS": ORIGIN, "RATE_LIMIT_PER_HOUR": "10", "WEBHOOK_BACKOFF_S": "0.05", "WEBHOOK_TIMEOUT_S": "2",
           "ORPHAN_AFTER_S": "60", "KEY_CACHE_TTL_S": "1"}
    with LocalStack(env, keys={key: customer_of(key) for key in API_KEYS}) as running:
        yield running


@pytest.fixture(scope="session")
def settings(stack: LocalStack) -> Settings:
    assert stack.settings is not None
    return stack.settings


_keys = itertools.count()


def customer_of(api_key: str) -> str:
    """The customer (owner of the jobs) of one of ``API_KEYS``."""
    return f"test-{API_KEYS.index(api_key):03d}"


@pytest.fixture
def api_key() -> str:
    """A key no other test has used (fresh rate-limit window and job list)."""
    return API_KEYS[next(_keys)]


class Api:
    """A tiny HTTP client of the local API for one API key."""

    def __init__(self, base: str, key: str | None) -> None:
        import requests

        self.base, self.session = base, requests.Session()
        if key:
            self.session.headers["X-API-Key"] = key

    @property
    def owner(self) -> str:
        """The owner of this client's jobs (its key's customer)."""
        return customer_of(self.session.headers["X-API-Key"])

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def submit(self, **overrides: Any) -> dict[str, Any]:
        response = self.post("/api/v1/generate", json={**SEED_REQUEST, **overrides})
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def status(self, job_id: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/status/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def api(stack: LocalStack, api_key: str) -> Api:
    return Api(stack.api_url, api_key)


@pytest.fixture
def other_api(stack: LocalStack) -> Api:
    return Api(stack.api_url, API_KEYS[next(_keys)])


@pytest.fixture
def aws(settings: Settings) -> Callable[[str], Any]:
    """boto3 clients of the moto server."""
    from shared.aws import client

    return lambda service: client(service, settings)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TINY RANDOM weights bundle (make-test-weights), shared by the session."""
    from testing.tiny import make_test_weights

    return make_test_weights(tmp_path_factory.mktemp("tiny-bundle"))


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_bundle: Path) -> Any:
    from inference_container.diffrhythm.pipeline import Pipeline

    return Pipeline.load(str(tiny_bundle), device="cpu", dtype="fp32", lyric_check=False)  # checked: own tests


@pytest.fixture
def drained_queue(settings: Settings) -> None:
    """Empty the job queue before a real worker runs: control-plane tests leave queued messages for no worker."""
    from shared.aws import client

    sqs = client("sqs", settings)
    while messages := sqs.receive_message(QueueUrl=settings.queue_url, MaxNumberOfMessages=10,
                                          VisibilityTimeout=0).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=settings.queue_url, ReceiptHandle=message["ReceiptHandle"])


def wait_for(probe: Callable[[], T | None], timeout: float = 15.0, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy (``timeout`` only guards against a hang)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
