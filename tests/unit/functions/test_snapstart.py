"""Lambda SnapStart: what the API does at init is snapshot-safe.

Building the app, and ``prime`` (the before-snapshot hook), create none of the app's AWS clients and open no
connection, so none is in the snapshot; the clients are built on first use, and ``refresh`` (the after-restore hook)
drops those built since and reseeds ``random``, which every restored copy would otherwise share.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import functions.api.app as api
from shared.aws import client, clients_built, deferred_client, reset_clients
from tests.unit.functions.conftest import make_settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every TCP/UDP connection this test's thread attempts (each refused; other threads, such as a local stack's
    dispatcher that an earlier test started in this process, connect as usual), and no cached client or app at the
    start."""
    attempts: list[Any] = []
    mine, real, real_ex = threading.get_ident(), socket.socket.connect, socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if threading.get_ident() != mine:
            return real(self, address)
        attempts.append(address)
        raise OSError("no connection in this test")

    def connect_ex(self: socket.socket, address: Any) -> int:
        if threading.get_ident() != mine:
            return real_ex(self, address)
        attempts.append(address)
        raise OSError("no connection in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(api, "_app", None)
    monkeypatch.setattr(api, "_mangum", None)
    reset_clients()
    yield attempts
    reset_clients()


def _settings() -> Any:
    return make_settings(allow_anonymous=False, keys_table_name="keys", table_name="jobs", aws_region="us-east-1",
                         aws_endpoint_url="http://127.0.0.1:9")


def test_building_the_app_and_priming_create_no_client_and_open_no_connection(connections, monkeypatch):
    monkeypatch.setattr(api, "get_settings", _settings)
    app = api.create_app(_settings())
    assert clients_built() == 0 and connections == []

    api.prime()  # the before-snapshot hook: the app (from the settings, as in Lambda), its schema, the tracer
    assert api.app is not app and "/api/v1/generate" in api.app.openapi()["paths"]
    assert clients_built() == 0 and connections == []


def test_clients_are_built_on_first_use_and_rebuilt_after_a_restore(connections, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # else building a client asks the instance metadata
        monkeypatch.setenv(name, "testing")
    settings = _settings()
    sqs = deferred_client("sqs", settings)
    assert clients_built() == 0
    assert sqs.meta.region_name == "us-east-1"  # first use: the client is built (no request is made)
    before = client("sqs", settings)
    assert clients_built() == 1

    api.refresh()  # the after-restore hook
    assert clients_built() == 0
    assert sqs.meta.endpoint_url == "http://127.0.0.1:9" and client("sqs", settings) is not before
    assert connections == []


def test_each_restored_copy_draws_its_own_random_numbers():
    random.seed(1234)  # the state a snapshot would hand every copy
    snapshotted = [random.random() for _ in range(4)]
    random.seed(1234)
    api.refresh()
    assert [random.random() for _ in range(4)] != snapshotted


_RUNTIME = """
import json, sys
import snapshot_restore_py as hooks
import functions.api.app as api
from shared.aws import clients_built
registered = {"before": [f.__name__ for f in hooks.before], "after": [f.__name__ for f in hooks.after]}
for hook in reversed(hooks.before):  # as Lambda runs them: before the snapshot in reverse order, after it in order
    hook()
for hook in hooks.after:
    hook()
event = json.load(open(sys.argv[1]))
event.update(path="/", httpMethod="GET", body=None, isBase64Encoded=False, pathParameters={"proxy": ""})

class Context:
    function_name, function_version, memory_limit_in_mb = "api", "1", 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api:live"
    aws_request_id, log_group_name, log_stream_name = "test", "/aws/lambda/api", "test"

response = api.handler(event, Context())
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"aws_xray_sdk", "jwt"})
print(json.dumps({**registered, "status": response["statusCode"], "clients": clients_built(), "loaded": heavy}))
"""
_FAKE_HOOKS = """
before, after = [], []


def register_before_snapshot(func, *args, **kwargs):
    before.append(func)
    return func


def register_after_restore(func, *args, **kwargs):
    after.append(func)
    return func
"""


@pytest.mark.slow  # a fresh interpreter
def test_the_runtime_finds_the_hooks_and_the_restored_handler_answers(tmp_path):
    """With the runtime's hook registry (a stand-in of ``snapshot_restore_py``) the import registers ``prime`` and
    ``refresh``; run as Lambda runs them, the handler then answers without having built a client."""
    from infrastructure.local.stack import LOCAL_ENV

    (tmp_path / "snapshot_restore_py.py").write_text(_FAKE_HOOKS)
    env = {**{k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}, **LOCAL_ENV,
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}  # not this process's settings (a stack's)
    done = subprocess.run([sys.executable, "-c", _RUNTIME, str(ROOT / "tests/events/apigateway-aws-proxy.json")],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"before": ["prime"], "after": ["refresh"], "status": 200, "clients": 0,
                      "loaded": ["aws_xray_sdk"]}  # primed before the snapshot; PyJWT only where users sign in
