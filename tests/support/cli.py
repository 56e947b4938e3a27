"""The ``diffrhythm`` CLI as tests drive it: ``generate`` in-process (its exit code, bad flags included), and
``local`` in a fresh process, read until it serves and stopped with Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def generate(bundle: Path, tmp_path: Path, *flags: str) -> int:
    """The exit code of ``diffrhythm generate --weights BUNDLE FLAGS -o TMP/song.wav`` (bad flags exit before any
    model is loaded)."""
    from infrastructure.cli import main

    try:
        return main(["generate", "--weights", str(bundle), *flags, "-o", str(tmp_path / "song.wav")])
    except SystemExit as refused:
        assert isinstance(refused.code, int)
        return refused.code


ROOT = Path(__file__).resolve().parents[2]
SERVING = "serving; Ctrl-C stops"  # what ``diffrhythm local`` prints once everything is up


def _as_a_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_local(flags: Sequence[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """``diffrhythm local FLAGS`` in a fresh interpreter with faulthandler on, started as a shell starts a background
    job: with SIGINT ignored (the CLI must still stop on Ctrl-C). Its output (stderr too) is its ``stdout``."""
    return subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "infrastructure.cli", "local", *flags],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=_as_a_background_job)


def read_until_serving(process: subprocess.Popen[str], printed: list[str]) -> str:
    """Collect the CLI's lines into ``printed`` until it says it is serving (the test's time limit guards a hang);
    what it printed."""
    assert process.stdout is not None
    for line in process.stdout:
        printed.append(line)
        if SERVING in line:
            break
    return "".join(printed)


def interrupt(process: subprocess.Popen[str], timeout: float) -> str:
    """Ctrl-C, then the CLI's remaining output once it exits. Where it does not exit within ``timeout`` seconds,
    fails with every thread's stack (faulthandler prints them on SIGABRT)."""
    process.send_signal(signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        stuck, _ = process.communicate(timeout=30)
        raise AssertionError(f"Ctrl-C did not stop it within {timeout:g} s:\n{stuck[-6000:]}") from None
    return out


def kill(process: subprocess.Popen[str]) -> None:
    """Make sure the CLI is gone (a test that failed half-way)."""
    if process.poll() is None:
        process.kill()
        process.wait()
