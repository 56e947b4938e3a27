"""``diffrhythm local`` (the worker in its process, the TINY RANDOM bundle) serves, and stops cleanly on Ctrl-C even
when it was started as a shell's background job, with SIGINT ignored (Python then raises no KeyboardInterrupt unless
the CLI sets the handler itself)."""

from __future__ import annotations

import os

import pytest
import requests

from infrastructure.local.stack import free_port
from tests.support.cli import interrupt, kill, read_until_serving, start_local


@pytest.mark.slow  # a moto server, the API and a worker on the tiny bundle in a fresh process
def test_diffrhythm_local_serves_and_stops_on_ctrl_c_started_in_the_background(tmp_path):
    api_port, moto_port = free_port(), free_port()
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    process = start_local(["--no-demo", "--port", str(api_port), "--moto-port", str(moto_port),
                           "--output", str(tmp_path)], env)
    try:
        text = read_until_serving(process, [])
        assert "TINY RANDOM TEST MODEL" in text, text[-3000:]
        assert requests.get(f"http://127.0.0.1:{api_port}/api/v1/health", timeout=10).status_code == 200
        out = interrupt(process, timeout=60)
        assert process.returncode == 0, out[-3000:]
        with pytest.raises(requests.ConnectionError):  # the API is gone with it
            requests.get(f"http://127.0.0.1:{api_port}/api/v1/health", timeout=5)
    finally:
        kill(process)
