"""The container tier: the worker image (``make image``, TINY RANDOM bundle) run as ECS runs it
(``infrastructure/local/container.py``) against the session's local stack, every container on ``--network host``.

The session builds the image once from a clean copy of this tree (the files a clone would hold: tracked and
untracked-but-not-ignored), through ``make image``, which reuses the layer cache; ``CONTAINER_IMAGE=TAG`` tests that
image instead, unbuilt. Image size, build time and each worker's start-to-ready seconds are printed at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE_BUDGET_MB = 7000  # the tiny image (the worker's locked dependencies, CUDA wheels included, and a tiny bundle)
MEASURED: dict[str, Any] = {"ready_s": []}


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A Docker engine answers (make test and CI start one: scripts/docker-engine.sh); the tier fails without one."""
    docker = os.environ.get("DOCKER", "docker")
    assert shutil.which(docker) and subprocess.run([docker, "info"], capture_output=True).returncode == 0, (
        "no Docker engine: start one with `bash scripts/docker-engine.sh start` (make test does)")


def clean_copy(target: Path) -> Path:
    """The files a clone of this tree would hold (tracked, and untracked but not ignored), copied under ``target``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="session")
def image(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny worker image, built by ``make image`` from a clean copy of this tree (``CONTAINER_IMAGE``: that
    image instead). Records the size and build time ``make image`` prints."""
    from infrastructure.local.container import IMAGE

    if given := os.environ.get("CONTAINER_IMAGE"):
        return given
    tree = clean_copy(tmp_path_factory.mktemp("clean-clone"))
    started = time.monotonic()
    built = subprocess.run(["make", "image"], cwd=tree, env={**os.environ, "WEIGHTS": "tiny", "IMAGE": IMAGE},
                           capture_output=True, text=True, timeout=3600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    printed = re.search(r"== (\S+): (\d+) MB, built in (\d+) s", built.stdout)
    assert printed, built.stdout[-2000:]
    MEASURED.update(image=printed[1], size_mb=int(printed[2]), build_s=int(printed[3]),
                    make_s=round(time.monotonic() - started))
    return IMAGE


@pytest.fixture
def containers(stack: Any, image: str, drained_queue: None) -> Iterator[Any]:
    """Worker containers against the session's stack; every one started is removed at the end, pass or fail."""
    from infrastructure.local.container import WorkerContainers

    with WorkerContainers(stack.settings, image=image) as running:
        yield running


def ready(container: Any) -> float:
    """Wait until ``container``'s health check passes; records and returns its start-to-ready seconds."""
    seconds: float = container.wait_healthy()
    MEASURED["ready_s"].append(round(seconds, 1))
    return seconds


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The image's size, its build time, and the workers' start-to-ready seconds, when this tier ran."""
    lines = []
    if "size_mb" in MEASURED:
        lines.append(f"{MEASURED['image']}: {MEASURED['size_mb']} MB (budget {IMAGE_BUDGET_MB} MB)")
    if "build_s" in MEASURED:
        lines.append(f"`make image` from a clean copy: {MEASURED['make_s']} s (docker build {MEASURED['build_s']} s)")
    if MEASURED["ready_s"]:
        lines.append(f"worker containers, start to ready (s): {MEASURED['ready_s']}")
    if lines:
        terminalreporter.write_sep("-", "container tier")
        for line in lines:
            terminalreporter.write_line(line)
