"""What the worker image runs, run here without Docker: lint, entrypoint dispatch, health check."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "inference_container/Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_entrypoint_runs_the_worker_or_the_sagemaker_server(tmp_path):
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "python $*"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    entrypoint = str(ROOT / "inference_container" / "entrypoint.sh")
    run = lambda *args: subprocess.run([entrypoint, *args], env=env, capture_output=True, text=True).stdout.strip()  # noqa: E731
    assert run() == "python -m inference_container worker"
    assert run("worker") == "python -m inference_container worker"
    # SageMaker starts images with "serve"
    assert run("serve") == "python -m inference_container worker --sagemaker --port 8080"
    assert run("echo", "other") == "other"



@pytest.mark.slow
def test_on_a_cpu_the_entrypoint_preloads_tcmalloc_unless_ld_preload_chose():
    """What a CPU worker's processes allocate through (``make system-deps`` installs the library, the image too)."""
    entrypoint = str(ROOT / "inference_container" / "entrypoint.sh")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    maps = [sys.executable, "-c", "print(open('/proc/self/maps').read().count('libtcmalloc_minimal'))"]
    gpu = Path("/dev/nvidiactl").exists()
    preloaded = subprocess.run([entrypoint, *maps], env=env, capture_output=True, text=True, check=True).stdout
    assert (int(preloaded) > 0) is not gpu
    chosen = subprocess.run([entrypoint, *maps], env={**env, "LD_PRELOAD": "libm.so.6"}, capture_output=True,
                            text=True, check=True).stdout
    assert int(chosen) == 0


def _stages(dockerfile: str) -> dict[str, list[str]]:
    """Each stage's instructions (continued lines joined), by its name (``AS name``; the unnamed last one: ``image``),
    its ``FROM`` line first."""
    stages: dict[str, list[str]] = {}
    lines = [line for line in dockerfile.replace("\\\n", " ").splitlines() if line and not line.startswith("#")]
    for line in lines:
        if line.startswith("FROM "):
            current = stages.setdefault(line.split(" AS ")[1] if " AS " in line else "image", [])
        if stages:
            current.append(line)
    return stages


def _copied(lines: list[str]) -> set[str]:
    """The build-context sources the ``COPY`` lines copy (not ``COPY --from``)."""
    return {source for line in lines if line.startswith("COPY ") and "--from=" not in line
            for source in line.split()[1:-1]}


def test_the_image_copies_and_installs_only_what_the_worker_needs():
    dockerfile = (ROOT / "inference_container" / "Dockerfile").read_text()
    stages = _stages(dockerfile)
    assert stages["image"][0] == "FROM runtime"  # the image: the runtime stage, then the weights and its settings
    copied = _copied(stages["runtime"] + stages["image"])
    assert copied == {"locks/build.txt", "locks/worker.txt", "scripts/install-locked.sh", "shared",
                      "inference_container"}
    assert "install-locked.sh /opt/venv" in dockerfile and "functions/" not in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    folders = {"shared", "inference_container", "testing"}
    allowed = {f"!{path}/" if path in folders else f"!{path}" for path in _copied(dockerfile.splitlines())}
    assert ignored[1] == "*" and allowed <= set(ignored), "the build context is only what is copied"


def test_the_test_code_stays_in_the_tiny_weights_stage_and_the_image_copies_only_the_bundle():
    stages = _stages((ROOT / "inference_container" / "Dockerfile").read_text())
    assert set(stages) == {"runtime", "weights-published", "weights-tiny", "weights", "image"}
    assert _copied(stages["weights-tiny"]) == {"testing"} and _copied(stages["weights-published"]) == set()
    assert not any("testing" in line for line in stages["runtime"] + stages["image"])
    assert stages["weights"] == ["FROM weights-${WEIGHTS} AS weights"]
    assert [line for line in stages["image"] if "--from=" in line] == [
        "COPY --from=weights /opt/diffrhythm/weights /opt/diffrhythm/weights"]
    tiny, published = " ".join(stages["weights-tiny"]), " ".join(stages["weights-published"])
    assert "TINY RANDOM" in tiny and 'python -m testing make-test-weights "${WEIGHTS_DIR}"' in tiny
    assert "python -m inference_container fetch-weights" in published and "--accept-noncommercial" in published
    assert 'chmod -R a+rX "${WEIGHTS_DIR}"' in tiny and 'chmod -R a+rX "${WEIGHTS_DIR}"' in published
    assert any('io.diffrhythm.weights="${WEIGHTS}"' in line for line in stages["image"])
    runtime = stages["runtime"]  # the locked dependencies before the code: only a lock change rebuilds them
    install = next(i for i, line in enumerate(runtime) if "install-locked.sh /opt/venv" in line)
    assert install < runtime.index("COPY shared shared") < runtime.index("COPY inference_container inference_container")


_WORKER_IMPORTS = """
import json, sys
import inference_container.cli, inference_container.worker.main, inference_container.worker.sagemaker
import inference_container.diffrhythm.pipeline, inference_container.diffrhythm.bundle.fetch
import inference_container.diffrhythm.bundle.convert
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _imported_top_levels(*folders: str) -> set[str]:
    """Top-level names of every absolute import in the Python files of ``folders``."""
    names = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names


@pytest.mark.slow
def test_the_worker_imports_nothing_outside_the_image_and_its_requirements():
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", _WORKER_IMPORTS], cwd=ROOT, check=True,
                                           capture_output=True, text=True).stdout))
    assert not loaded & {"functions", "infrastructure", "fastapi", "mangum", "moto", "uvicorn"}
    required = {re.split(r"[<>=\[ ]", line)[0].lower().replace("-", "_")
                for line in (ROOT / "inference_container" / "requirements.txt").read_text().splitlines()
                if line and not line.startswith("#")}
    distributions = importlib.metadata.packages_distributions()
    third_party = _imported_top_levels("shared", "inference_container") - set(sys.stdlib_module_names) - {
        "shared", "inference_container"}
    assert {"torch", "boto3", "pydantic", "aws_lambda_powertools", "muq"} <= third_party  # the scan sees them
    missing = {m for m in third_party if not {d.lower().replace("-", "_") for d in distributions.get(m, [m])}
               & required}
    assert not missing, f"imported by shared/ or inference_container/ but not in its requirements: {missing}"


@pytest.mark.slow
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
