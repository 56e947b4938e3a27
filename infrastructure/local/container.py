"""Run the worker image (``inference_container/Dockerfile``) against the local stack, the way ECS runs it.

Each container gets ``--network host`` (it reaches the stack on 127.0.0.1), the image's own user (10001), and what
``infrastructure/gpu/compute.yaml``'s task definition gives the worker container: its read-only root filesystem and
tmpfs mounts, its ``StopTimeout`` and its environment (literal values as written; references resolved from the local
stack's settings), plus the in-process local worker's settings (``stack.LOCAL_WORKER``). ``WorkerContainers`` names
and labels every container it starts and removes them all when it closes, whatever happened.

    with WorkerContainers(stack.settings) as containers:
        worker = containers.start()          # the SQS worker ("worker", the image's default command)
        worker.wait_healthy()
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from infrastructure.local.stack import LOCAL_ENV, LOCAL_WORKER
from infrastructure.local.template import load_template
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPUTE = ROOT / "infrastructure" / "gpu" / "compute.yaml"
IMAGE = "diffrhythm-worker:tiny"  # `make image` (WEIGHTS=tiny): the TINY RANDOM test bundle baked in
USER = "10001"  # the image's worker user
LABEL = "io.diffrhythm.local-worker"  # on every container started here; its value names the WorkerContainers
WEIGHTS_DIR = "/opt/diffrhythm/weights"  # the image's WEIGHTS_DIR, where --weights DIR is mounted read-only
LOCAL_AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")


def docker(*args: str, check: bool = True, timeout: float | None = 120) -> subprocess.CompletedProcess[str]:
    """Run the docker client (``$DOCKER``, default ``docker``: runtime commands work with any client); with
    ``check``, a failure raises with the client's message."""
    result = subprocess.run([os.environ.get("DOCKER", "docker"), *args], capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode:
        raise RuntimeError(f"docker {args[0]} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def check_readable(folder: str | Path) -> None:
    """``ValueError`` unless the image's user can read all of ``folder`` through a mount: every file readable and
    every folder readable and searchable by others (a bundle written with owner-only modes; ``chmod -R a+rX`` fixes
    it)."""
    refused = []
    for path in [Path(folder), *Path(folder).rglob("*")]:
        mode = path.stat().st_mode
        needed = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)
        if path.stat().st_uid != int(USER) and mode & needed != needed:
            refused.append(path)
    if refused:
        raise ValueError(f"the image's user ({USER}) cannot read {len(refused)} files of {folder}, e.g. "
                         f"{refused[0]}: chmod -R a+rX {folder}")


def image_exists(image: str = IMAGE) -> bool:
    """Whether the engine has ``image``."""
    return docker("image", "inspect", image, check=False).returncode == 0


def image_weights(image: str = IMAGE) -> str:
    """The bundle baked into ``image`` (its ``io.diffrhythm.weights`` label): ``tiny`` or ``published``."""
    return docker("image", "inspect", "--format", '{{index .Config.Labels "io.diffrhythm.weights"}}', image
                  ).stdout.strip()


def ensure_image(image: str = IMAGE) -> None:
    """Build the tiny image with ``make image`` when the engine lacks it (minutes; the layer cache makes a rebuild
    quick); any other missing tag is the user's to build."""
    if image_exists(image):
        return
    if image != IMAGE:
        raise SystemExit(f"no image {image}: build it first, e.g. make image WEIGHTS=published IMAGE={image} "
                         "BUILD_ARGS='--build-arg ACCEPT_NONCOMMERCIAL_WEIGHTS=1'")
    print(f"no image {image}: building it with `make image` (several minutes the first time)", flush=True)
    if subprocess.run(["make", "image"], cwd=ROOT, env={**os.environ, "WEIGHTS": "tiny", "IMAGE": image}).returncode:
        raise SystemExit(f"`make image` failed; build {image} by hand (docs/worker.md: the worker image) and try again")


@dataclass(frozen=True)
class TaskShape:
    """What the ECS task definition's worker container declares (``from_template``)."""

    readonly_root: bool
    tmpfs: tuple[str, ...]  # docker --tmpfs values: "PATH:OPTIONS"
    stop_timeout_s: int
    environment: dict[str, Any]  # name -> a literal string, or a CloudFormation reference (resolved by ``env``)

    @classmethod
    def from_template(cls, path: Path = COMPUTE) -> TaskShape:
        """Read the worker container of ``path``'s ``TaskDefinition``."""
        container = load_template(path)["Resources"]["TaskDefinition"]["Properties"]
        (worker,) = (c for c in container["ContainerDefinitions"] if c["Name"] == "worker")
        mounts = worker.get("LinuxParameters", {}).get("Tmpfs", [])
        tmpfs = tuple(m["ContainerPath"] + ":" + ",".join([*m.get("MountOptions", []), f"size={m['Size']}m"])
                      for m in mounts)
        return cls(bool(worker.get("ReadonlyRootFilesystem", False)), tmpfs, int(worker["StopTimeout"]),
                   {e["Name"]: e["Value"] for e in worker.get("Environment", [])})

    def env(self, settings: Settings) -> dict[str, str]:
        """The task's environment: literal values as written, references from the local ``settings`` (the field
        of the variable's name: ``QUEUE_URL`` -> ``settings.queue_url``)."""
        resolved = {}
        for name, value in self.environment.items():
            if not isinstance(value, str):
                value = getattr(settings, name.lower())  # AttributeError: a reference the local stack lacks
            resolved[name] = str(value)
        return resolved


@dataclass
class Container:
    """One started container (``WorkerContainers.start``)."""

    name: str
    started_at: float  # time.monotonic() at ``docker run``

    def inspect(self) -> dict[str, Any]:
        """``docker inspect``: its state, health and host configuration."""
        found: list[dict[str, Any]] = json.loads(docker("inspect", self.name).stdout)
        return found[0]

    def health(self) -> str:
        """Docker's verdict from the image's HEALTHCHECK: starting, healthy or unhealthy ("" before any)."""
        health = self.inspect()["State"].get("Health") or {}
        return str(health.get("Status", ""))

    def running(self) -> bool:
        return bool(self.inspect()["State"]["Running"])

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside the container (as its user)."""
        return docker("exec", self.name, *command, check=False)

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def wait_healthy(self, timeout: float = 300) -> float:
        """Wait until the health check passes; returns the seconds from ``docker run`` (start to ready). A container
        that exits first, or a timeout, raises with its logs."""
        deadline = time.monotonic() + timeout
        while (state := self.inspect()["State"]).get("Health", {}).get("Status") != "healthy":
            if not state["Running"] or time.monotonic() > deadline:
                verdict = f"exited {state['ExitCode']}" if not state["Running"] else "not healthy in time"
                raise RuntimeError(f"worker container {self.name}: {verdict}; its log:\n{self.logs()[-5000:]}")
            time.sleep(0.2)
        return time.monotonic() - self.started_at

    def stop(self, timeout_s: int | None = None) -> int:
        """``docker stop`` (SIGTERM, then SIGKILL after ``timeout_s``, default the container's stop timeout);
        returns the worker's exit code (137: it was killed)."""
        docker("stop", *(["--time", str(timeout_s)] if timeout_s is not None else []), self.name, timeout=None)
        return int(self.inspect()["State"]["ExitCode"])


@dataclass
class WorkerContainers(AbstractContextManager["WorkerContainers"]):
    """Starts worker containers against the local stack's ``settings``; closing it removes every one it started.

    ``weights``: a bundle folder mounted read-only at the image's ``WEIGHTS_DIR`` (default: the bundle baked in).
    ``env``: more environment for every container (e.g. ``STALL_S``), over the task's and the local worker's."""

    settings: Settings
    image: str = IMAGE
    weights: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    task: TaskShape = field(default_factory=TaskShape.from_template)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: list[Container] = field(default_factory=list)

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """What a container's worker reads: the local stack's endpoint and credentials, the task definition's
        environment, the local worker's settings, then ``env`` and ``extra``."""
        settings = self.settings
        return {**{name: LOCAL_ENV[name] for name in LOCAL_AWS},
                "AWS_ENDPOINT_URL": settings.aws_endpoint_url or "", "DLQ_URL": settings.dlq_url,
                "POWERTOOLS_METRICS_DISABLED": "true", "SERVE_HOST": "127.0.0.1", **self.task.env(settings),
                **{name.upper(): str(value) for name, value in LOCAL_WORKER.items()}, **self.env, **(extra or {})}

    def run_args(self, name: str, command: str, extra: dict[str, str] | None, health_interval_s: float | None
                 ) -> list[str]:
        """The ``docker run`` arguments of one container (detached, host network, as ECS would run it)."""
        args = ["run", "--detach", "--name", name, "--label", f"{LABEL}={self.run_id}", "--network", "host",
                "--user", USER, "--stop-timeout", str(self.task.stop_timeout_s)]
        if self.task.readonly_root:
            args.append("--read-only")
        for mount in self.task.tmpfs:
            args += ["--tmpfs", mount]
        if self.weights:
            args += ["--volume", f"{Path(self.weights).resolve()}:{WEIGHTS_DIR}:ro",
                     "--env", f"WEIGHTS_DIR={WEIGHTS_DIR}"]
        if health_interval_s is not None:  # the image's health command and start period, checked more often
            args += ["--health-interval", f"{int(health_interval_s * 1000)}ms", "--health-retries", "1"]
        for key, value in self.environment(extra).items():
            args += ["--env", f"{key}={value}"]
        return [*args, self.image, command]

    def start(self, command: str = "worker", env: dict[str, str] | None = None,
              health_interval_s: float | None = None) -> Container:
        """Start one container running ``command`` (``worker``: the SQS worker; ``serve``: SageMaker's /ping and
        /invocations on port 8080). ``env`` adds to this container's environment; ``health_interval_s`` runs the
        image's health check that often and counts one failure as unhealthy."""
        if self.weights:
            check_readable(self.weights)
        name = f"diffrhythm-worker-{self.run_id}-{len(self.started)}"
        started = time.monotonic()
        docker(*self.run_args(name, command, env, health_interval_s))
        container = Container(name, started)
        self.started.append(container)
        return container

    def close(self) -> None:
        """Remove every container of this run (running or not)."""
        listed = docker("ps", "--all", "--quiet", "--filter", f"label={LABEL}={self.run_id}", check=False)
        if ids := listed.stdout.split():
            docker("rm", "--force", *ids, check=False)

    def __enter__(self) -> WorkerContainers:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
