"""``diffrhythm local`` (the worker in its process, the TINY RANDOM bundle) serves, and stops cleanly on Ctrl-C even
when it was started as a shell's background job, with SIGINT ignored (Python then raises no KeyboardInterrupt unless
the CLI sets the handler itself)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from infrastructure.local.stack import free_port

ROOT = Path(__file__).resolve().parents[2]


def _as_a_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow  # a moto server, the API and a worker on the tiny bundle in a fresh process
def test_diffrhythm_local_serves_and_stops_on_ctrl_c_started_in_the_background(tmp_path):
    api_port, moto_port = free_port(), free_port()
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    process = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "infrastructure.cli", "local", "--no-demo", "--port",
         str(api_port), "--moto-port", str(moto_port), "--output", str(tmp_path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_as_a_background_job)
    assert process.stdout is not None
    printed: list[str] = []
    try:
        for line in process.stdout:  # the test's time limit guards a hang
            printed.append(line)
            if "serving; Ctrl-C stops" in line:
                break
        assert "TINY RANDOM TEST MODEL" in "".join(printed), "".join(printed)[-3000:]
        assert requests.get(f"http://127.0.0.1:{api_port}/api/v1/health", timeout=10).status_code == 200
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # where it hangs: faulthandler prints every thread's stack on SIGABRT
            process.send_signal(signal.SIGABRT)
            stuck, _ = process.communicate(timeout=30)
            raise AssertionError(f"Ctrl-C did not stop it within 60 s:\n{stuck[-6000:]}") from None
        assert process.returncode == 0, out[-3000:]
        with pytest.raises(requests.ConnectionError):  # the API is gone with it
            requests.get(f"http://127.0.0.1:{api_port}/api/v1/health", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
