"""What the worker image runs, run here without Docker: lint, entrypoint dispatch, health check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "inference_container/Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_entrypoint_runs_the_worker_or_the_sagemaker_server(tmp_path):
    fake = tmp_path / "diffrhythm"
    fake.write_text('#!/bin/sh\necho "diffrhythm $*"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    entrypoint = str(ROOT / "inference_container" / "entrypoint.sh")
    run = lambda *args: subprocess.run([entrypoint, *args], env=env, capture_output=True, text=True).stdout.strip()  # noqa: E731
    assert run() == "diffrhythm worker"
    assert run("worker") == "diffrhythm worker"
    assert run("serve") == "diffrhythm worker --sagemaker --port 8080"  # SageMaker starts images with "serve"
    assert run("echo", "other") == "other"


def test_health_check_follows_the_workers_poll_file(tmp_path):
    alive = tmp_path / "alive"
    env = {**os.environ, "HEALTH_FILE": str(alive)}
    check = lambda: subprocess.run([sys.executable, "-m", "inference_container.worker.health"], env=env,  # noqa: E731
                                   cwd=ROOT).returncode
    alive.touch()
    assert check() == 0
    stale = time.time() - 600
    os.utime(alive, (stale, stale))
    assert check() == 1
