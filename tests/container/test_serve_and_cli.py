"""The image's ``serve`` mode (SageMaker's ``/ping`` and ``/invocations`` on port 8080) against the local stack, and
``diffrhythm local --worker container``: the local stack's worker as the image."""

from __future__ import annotations

import io
import os
import re
import socket
from pathlib import Path

import requests
import soundfile

from infrastructure.local.container import LABEL, docker
from infrastructure.local.stack import free_port
from shared import keys
from shared.records import JobMessage
from tests.conftest import wait_for
from tests.container.conftest import ready
from tests.support.cli import interrupt, kill, read_until_serving, start_local
from tests.worker_sim import take_message

FAST = {"preset": "preview"}
SERVE = "http://127.0.0.1:8080"  # SageMaker's port; the image serves no other


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _listeners(port: int) -> set[str]:
    """The IPv4 addresses this host's sockets listen on at ``port`` (/proc/net/tcp: the container shares the host's
    network)."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return {socket.inet_ntoa(bytes.fromhex(local.split(":")[0])[::-1]) for _, local, _, state, *_ in rows
            if state == "0A" and int(local.split(":")[1], 16) == port}


def test_serve_answers_ping_and_invocations_and_a_job_that_must_run_again_is_a_503(api, containers, aws, settings):
    assert _port_free(8080), "port 8080 is taken on this machine: serve mode listens there (SageMaker's contract)"
    container = containers.start("serve", health_interval_s=0.5)
    ready(container)  # the health command asks /ping in serve mode
    assert _listeners(8080) == {"127.0.0.1"}  # SERVE_HOST: on the host's network, nothing but loopback reaches it
    ping = requests.get(f"{SERVE}/ping", timeout=10)
    assert ping.status_code == 200 and ping.json()["status"] == "healthy"
    job_id = api.submit(**FAST)["job_id"]
    message = take_message(aws("sqs"), settings.queue_url, job_id)  # what the dispatcher hands to the endpoint
    aws("sqs").delete_message(QueueUrl=settings.queue_url, ReceiptHandle=message["ReceiptHandle"])
    body = JobMessage.model_validate_json(message["Body"])
    # its request not (yet) readable in S3: not the user's fault, so 503 (the invocation fails and runs again)
    gone = body.model_copy(update={"request_key": body.request_key + ".missing"})
    again = requests.post(f"{SERVE}/invocations", data=gone.model_dump_json(), timeout=300)
    assert again.status_code == 503 and again.json() == {"outcome": "retry", "job_id": job_id, "manifest_key": None}
    done = requests.post(f"{SERVE}/invocations", data=body.model_dump_json(), timeout=300)
    assert done.status_code == 200
    assert done.json() == {"outcome": "completed", "job_id": job_id, "manifest_key": keys.manifest_key(job_id)}
    status = wait_for(lambda: (s := api.status(job_id))["status"] == "completed" and s, timeout=60)
    audio = requests.get(api.get(f"/api/v1/download/{job_id}").headers["location"], timeout=30)
    assert soundfile.info(io.BytesIO(audio.content)).samplerate == 44100 and status["outputs"]
    unreadable = requests.post(f"{SERVE}/invocations", data="not a job message", timeout=30)
    assert unreadable.status_code == 400 and unreadable.json()["outcome"] == "unreadable"
    assert requests.get(f"{SERVE}/elsewhere", timeout=10).status_code == 404


def test_diffrhythm_local_with_worker_container_generates_the_example_through_the_image(image, tmp_path: Path):
    api_port, moto_port = free_port(), free_port()
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "DOCKER") if name in os.environ}
    process = start_local(["--worker", "container", "--image", image, "--port", str(api_port), "--moto-port",
                           str(moto_port), "--output", str(tmp_path)], env)
    printed: list[str] = []
    try:
        text = read_until_serving(process, printed)
        name = re.search(r"in container (diffrhythm-worker-\S+) ", text)
        assert name and "TINY RANDOM TEST MODEL" in text and "saved the finished song" in text, text[-3000:]
        assert docker("inspect", "--format", "{{.State.Running}}", name[1]).stdout.strip() == "true"
        assert len(list(tmp_path.glob("*.wav"))) == 1
        interrupt(process, timeout=120)  # Ctrl-C: the CLI removes its container and stops the stack
        assert process.returncode == 0
        assert docker("ps", "--all", "--quiet", "--filter", f"name={name[1]}").stdout.strip() == ""
    finally:
        kill(process)
        run = re.search(r"diffrhythm-worker-([0-9a-f]+)-", "".join(printed))
        if run:  # a CLI that failed half-way leaves nothing running either
            left = docker("ps", "--all", "--quiet", "--filter", f"label={LABEL}={run[1]}").stdout.split()
            if left:
                docker("rm", "--force", *left)
