"""The worker image as ECS runs it: built from a clean tree, its own unprivileged user, tcmalloc on a CPU, under its
size budget, the task definition's read-only root and tmpfs, a job from the local stack completed through the status
function, and a weights folder mounted read-only instead of the bundle baked in."""

from __future__ import annotations

import io
import json
import shutil

import pytest
import requests
import soundfile

from infrastructure.local.container import USER, WEIGHTS_DIR, TaskShape, WorkerContainers, docker
from infrastructure.local.template import load_template
from shared import keys
from tests.conftest import wait_for
from tests.container.conftest import IMAGE_BUDGET_MB, MEASURED, ROOT, ready

FAST = {"preset": "preview"}  # 4 sampling steps: seconds per song with the tiny model


def test_the_image_builds_runs_as_its_own_user_and_stays_under_its_size_budget(image):
    config = json.loads(docker("image", "inspect", image).stdout)[0]
    size_mb = MEASURED["size_mb"] = config["Size"] // 1_000_000  # printed at the end of the session
    MEASURED["image"] = image
    assert config["Config"]["User"] == USER and size_mb <= IMAGE_BUDGET_MB
    whoami = docker("run", "--rm", "--network", "host", "--entrypoint", "id", image, timeout=60).stdout.split()
    assert whoami[:2] == ["uid=10001(worker)", "gid=10001(worker)"]
    # without a GPU the entrypoint preloads tcmalloc for whatever it runs (entrypoint.sh)
    maps = "print(open('/proc/self/maps').read().count('libtcmalloc_minimal'))"
    assert int(docker("run", "--rm", "--network", "host", image, "python", "-c", maps, timeout=60).stdout) > 0
    # ECS checks the task definition's health command: the same as the image's
    task = load_template(ROOT / "infrastructure" / "gpu" / "compute.yaml")["Resources"]["TaskDefinition"]
    (worker,) = task["Properties"]["ContainerDefinitions"]
    assert config["Config"]["Healthcheck"]["Test"] == worker["HealthCheck"]["Command"]


_TEST_CODE = """
import importlib.util, json, pathlib
found = sorted(str(p) for pattern in ("tiny*.py", "golden*.py") for p in pathlib.Path("/opt/diffrhythm").rglob(pattern))
print(json.dumps({"testing": importlib.util.find_spec("testing") is not None, "files": found}))
"""


def test_the_image_holds_no_test_code_but_the_tiny_bundle_it_made(image):
    """The TINY RANDOM bundle is made in a build stage (weights-tiny) that has ``testing/``; the image has the bundle
    alone: no ``testing`` package, no tiny*/golden module."""
    shown = docker("run", "--rm", "--network", "host", "--entrypoint", "python", image, "-c", _TEST_CODE,
                   timeout=60).stdout
    assert json.loads(shown) == {"testing": False, "files": []}
    assert sorted(docker("run", "--rm", "--network", "host", "--entrypoint", "ls", image, "/opt/diffrhythm/app",
                         timeout=60).stdout.split()) == ["inference_container", "shared"]
    manifest = json.loads(docker("run", "--rm", "--network", "host", "--entrypoint", "cat", image,
                                 f"{WEIGHTS_DIR}/manifest.json", timeout=60).stdout)
    assert "TINY RANDOM" in manifest["kind"]
    labels = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]["Labels"]
    assert labels["io.diffrhythm.weights"] == "tiny"


def test_the_container_runs_read_only_with_the_task_definitions_tmpfs(containers):
    container = containers.start(health_interval_s=0.5)
    ready(container)
    host = container.inspect()["HostConfig"]
    task = TaskShape.from_template()
    assert task.readonly_root and host["ReadonlyRootfs"] and host["NetworkMode"] == "host"
    assert host["Tmpfs"] == dict(mount.split(":", 1) for mount in task.tmpfs) and "/tmp" in host["Tmpfs"]
    assert container.inspect()["Config"]["User"] == USER
    for path in ("/opt/diffrhythm/app", "/opt/diffrhythm/weights", "/home/worker"):
        refused = container.exec("touch", f"{path}/written")
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr, path
    assert container.exec("touch", "/tmp/written").returncode == 0
    assert container.exec("test", "-s", "/tmp/diffrhythm-worker.alive").returncode == 0  # the health file


def test_the_containers_worker_completes_a_job_from_the_local_stack_and_its_songs_download(api, containers, aws,
                                                                                          settings):
    container = containers.start(health_interval_s=0.5)
    ready(container)
    job_id = api.submit(**FAST, batch_size=2, output_format="mp3")["job_id"]
    status = wait_for(lambda: (s := api.status(job_id))["status"] in ("completed", "failed") and s, timeout=300,
                      interval=0.5)
    assert status["status"] == "completed", (status["error"], container.logs()[-3000:])
    assert {(o["kind"], o["index"], o["format"]) for o in status["outputs"] if o["kind"] == "song"} == {
        ("song", 0, "wav"), ("song", 0, "mp3"), ("song", 1, "wav"), ("song", 1, "mp3")}
    for params in ({}, {"index": 1, "format": "mp3"}):
        redirect = api.get(f"/api/v1/download/{job_id}", params=params)
        assert redirect.status_code == 302
        audio = requests.get(redirect.headers["location"], timeout=30)
        info = soundfile.info(io.BytesIO(audio.content))
        assert (info.samplerate, info.channels) == (44100, 2) and abs(info.duration - 95.1) < 0.1
    metadata = aws("s3").get_object(Bucket=settings.bucket_name, Key=keys.output_prefix(job_id) + "metadata.json")
    assert b"TINY RANDOM" in metadata["Body"].read()
    assert container.running() and container.health() == "healthy"


def test_a_weights_folder_is_mounted_read_only_at_the_images_weights_dir(api, stack, image, drained_queue,
                                                                        tiny_bundle, tmp_path):
    bundle = shutil.copytree(tiny_bundle, tmp_path / "bundle")
    for path in [bundle, *bundle.rglob("*")]:  # safetensors writes owner-only files: refused with the fix to apply
        path.chmod(0o700 if path.is_dir() else 0o600)
    with pytest.raises(ValueError, match="chmod -R a\\+rX"), WorkerContainers(stack.settings, image, str(bundle)) as c:
        c.start()
    for path in [bundle, *bundle.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    with WorkerContainers(stack.settings, image, str(bundle)) as mounted:
        container = mounted.start(health_interval_s=0.5)
        ready(container)
        (bind,) = container.inspect()["HostConfig"]["Binds"]
        assert bind == f"{bundle}:{WEIGHTS_DIR}:ro"
        shown = container.exec("cat", f"{WEIGHTS_DIR}/manifest.json").stdout
        assert shown == (bundle / "manifest.json").read_text()
        assert "Read-only file system" in container.exec("touch", f"{WEIGHTS_DIR}/written").stderr
        job_id = api.submit(**FAST)["job_id"]
        status = wait_for(lambda: (s := api.status(job_id))["status"] in ("completed", "failed") and s, timeout=300,
                          interval=0.5)
        assert status["status"] == "completed", (status["error"], container.logs()[-3000:])
