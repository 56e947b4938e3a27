"""The whole path on this CPU with the TINY RANDOM bundle: API -> SQS -> worker -> S3 -> status -> download,
and the worker's behaviour under faults (duplicates, cancellation, poison messages, SIGTERM, SIGKILL)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys

import pytest
import requests
import soundfile

from inference_container.worker.main import build_worker
from inference_container.worker.settings import WorkerSettings
from shared import keys
from tests.conftest import wait_for
from tests.worker_sim import take_message

FAST = {"preset": "preview"}  # 4 sampling steps: seconds per song with the tiny model


@pytest.fixture
def worker(stack, tiny_pipeline, drained_queue):
    settings = WorkerSettings(poll_wait_s=1, heartbeat_s=1, visibility_s=30, progress_interval_s=0.2)
    return build_worker(settings, pipeline=tiny_pipeline)


def _objects(aws, settings, job_id: str) -> dict[str, str]:
    listed = aws("s3").list_objects_v2(Bucket=settings.bucket_name, Prefix=keys.output_prefix(job_id))
    return {o["Key"]: o["ETag"] for o in listed.get("Contents", [])}


def test_submit_generate_complete_download_with_two_variations(api, worker, aws, settings):
    job_id = api.submit(**FAST, batch_size=2, output_format="mp3")["job_id"]
    assert worker.handle(take_message(aws("sqs"), settings.queue_url, job_id)) == "completed"
    status = wait_for(lambda: (s := api.status(job_id))["status"] == "completed" and s)
    assert {(o["kind"], o["index"], o["format"]) for o in status["outputs"]} == {
        ("song", 0, "wav"), ("song", 0, "mp3"), ("song", 1, "wav"), ("song", 1, "mp3"), ("peaks", 0, "json"),
        ("peaks", 1, "json"), ("lyrics", 0, "lrc"), ("lyrics", 0, "json")}
    assert all(isinstance(o["score"], float) for o in status["outputs"] if o["kind"] == "song")
    for params in ({}, {"index": 1, "format": "mp3"}):
        redirect = api.get(f"/api/v1/download/{job_id}", params=params)
        audio = requests.get(redirect.headers["location"], timeout=30)
        info = soundfile.info(io.BytesIO(audio.content))
        assert (info.samplerate, info.channels) == (44100, 2) and abs(info.duration - 95.1) < 0.1
    metadata = aws("s3").get_object(Bucket=settings.bucket_name, Key=keys.output_prefix(job_id) + "metadata.json")
    assert b"TINY RANDOM" in metadata["Body"].read()


def test_downloaded_songs_carry_the_deployments_signed_provenance(api, worker, aws, settings, stack):
    from inference_container.audio.credentials import verify

    job_id = api.submit(**FAST, output_format="flac", title="Signed")["job_id"]
    assert worker.handle(take_message(aws("sqs"), settings.queue_url, job_id)) == "completed"
    wait_for(lambda: api.status(job_id)["status"] == "completed")
    anchor = stack.resources.provenance_anchor
    for params in ({}, {"format": "flac"}):  # what a browser downloads, through the presigned redirect
        song = requests.get(api.get(f"/api/v1/download/{job_id}", params=params).headers["location"], timeout=30)
        verdict = verify(song.content, anchor)
        assert verdict.ours and verdict.job_id == job_id and verdict.manifest["title"] == "Signed", verdict.problems
        changed = bytearray(song.content)
        changed[len(changed) // 2] ^= 0x01
        assert not verify(bytes(changed), anchor).ours


def test_the_same_message_twice_generates_once(api, worker, aws, settings):
    job_id = api.submit(**FAST)["job_id"]
    message = take_message(aws("sqs"), settings.queue_url, job_id)
    assert worker.handle(message) == "completed"
    wait_for(lambda: api.status(job_id)["status"] == "completed")
    before = _objects(aws, settings, job_id)
    aws("sqs").send_message(QueueUrl=settings.queue_url, MessageBody=message["Body"])  # at-least-once delivery
    assert worker.handle(take_message(aws("sqs"), settings.queue_url, job_id)) == "skipped"
    assert _objects(aws, settings, job_id) == before


def test_a_cancelled_job_is_not_generated(api, worker, aws, settings):
    job_id = api.submit(**FAST)["job_id"]
    assert api.delete(f"/api/v1/jobs/{job_id}").status_code == 200
    assert worker.handle(take_message(aws("sqs"), settings.queue_url, job_id)) == "skipped"
    assert _objects(aws, settings, job_id) == {}
    assert api.status(job_id)["status"] == "cancelled"


def test_a_permanent_failure_fails_the_job_at_once(api, worker, aws, settings):
    job_id = api.submit(**FAST, lyrics="[00:01.00]你好 world\n[00:09.00]end")
    job_id = job_id["job_id"]
    worker.runner.pipeline.tokenizer.mandarin, saved = None, worker.runner.pipeline.tokenizer.mandarin
    try:
        assert worker.handle(take_message(aws("sqs"), settings.queue_url, job_id)) == "failed"
    finally:
        worker.runner.pipeline.tokenizer.mandarin = saved
    status = wait_for(lambda: (s := api.status(job_id))["status"] == "failed" and s)
    assert "Mandarin" in status["error"]


def test_a_poison_message_is_dead_lettered_and_its_job_fails_with_the_reason(api, worker, aws, settings,
                                                                           monkeypatch):
    job_id = api.submit(**FAST)["job_id"]

    def crash(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(worker.runner.pipeline, "generate_batch", crash)
    monkeypatch.setattr(worker, "retry_delay_s", 0)
    for _ in range(3):  # maxReceiveCount
        assert worker.handle(take_message(aws("sqs"), settings.queue_url, job_id)) == "retry"
    aws("sqs").receive_message(QueueUrl=settings.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    status = wait_for(lambda: (s := api.status(job_id))["status"] == "failed" and s, timeout=30)
    assert "3 attempts" in status["error"] and "the GPU ran out of memory" in status["error"]
    assert "CUDA" not in status["error"]  # the driver's text stays in the logs


def _held_worker(tiny_bundle, **env: str) -> subprocess.Popen:
    """A worker process whose jobs stay in the sampling stage until it is signalled (``tests.e2e.held_worker``)."""
    environment = {**os.environ, "WEIGHTS_DIR": str(tiny_bundle), "POLL_WAIT_S": "1", "HEARTBEAT_S": "1",
                   "PROGRESS_INTERVAL_S": "0.2", "DEVICE": "cpu", **env}
    return subprocess.Popen([sys.executable, "-m", "tests.e2e.held_worker"], env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _sampling(api, job_id: str) -> bool:
    status = api.status(job_id)
    return status["status"] == "processing" and (status["progress"] or {}).get("stage") == "sampling"


def _visible(aws, settings, job_id: str) -> bool:
    """Whether the job's message can be received right now (it is made visible again at once if so)."""
    messages = aws("sqs").receive_message(QueueUrl=settings.queue_url, MaxNumberOfMessages=10,
                                          VisibilityTimeout=0).get("Messages", [])
    return any(job_id in m["Body"] for m in messages)


@pytest.mark.slow
def test_sigterm_mid_job_hands_the_job_back(api, worker, aws, settings, tiny_bundle):
    job_id = api.submit(**FAST)["job_id"]
    # a visibility far longer than the test: only a hand-back makes the message visible again soon
    process = _held_worker(tiny_bundle, GRACE_S="1", VISIBILITY_S="600")
    try:
        wait_for(lambda: _sampling(api, job_id), timeout=300, interval=0.2)  # the timeout only guards a hang
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    finally:
        process.kill()
    message = take_message(aws("sqs"), settings.queue_url, job_id, timeout=30)  # handed back: visible now
    assert api.status(job_id)["status"] == "processing" and _objects(aws, settings, job_id) == {}
    assert worker.handle(message) == "completed"  # and the next worker finishes it
    wait_for(lambda: api.status(job_id)["status"] == "completed")


@pytest.mark.slow
def test_sigkill_mid_job_the_message_returns_and_the_job_completes_once(api, worker, aws, settings, tiny_bundle):
    job_id = api.submit(**FAST)["job_id"]
    process = _held_worker(tiny_bundle, VISIBILITY_S="20")
    try:
        wait_for(lambda: _sampling(api, job_id), timeout=300, interval=0.2)
        process.kill()  # SIGKILL: no clean-up, no hand-back
        process.wait(timeout=60)
    finally:
        process.kill()
    assert not _visible(aws, settings, job_id)  # the heartbeat had extended it: it stays with the dead worker
    message = take_message(aws("sqs"), settings.queue_url, job_id, timeout=120)  # once the visibility lapses
    assert worker.handle(message) == "completed"
    status = wait_for(lambda: (s := api.status(job_id))["status"] == "completed" and s)
    songs = [o for o in status["outputs"] if o["format"] == "wav" and o["kind"] == "song"]
    assert status["error"] is None and len(songs) == 1


@pytest.mark.slow
def test_a_hung_generation_lets_its_lease_lapse_fails_the_health_check_and_completes_elsewhere(
        api, worker, aws, settings, tiny_bundle, tmp_path):
    import time

    job_id = api.submit(**FAST)["job_id"]
    alive = tmp_path / "alive"
    process = _held_worker(tiny_bundle, HELD_SILENTLY="1", STALL_S="5", VISIBILITY_S="8", HEALTH_FILE=str(alive))
    health = lambda: subprocess.run([sys.executable, "-m", "inference_container.worker.health"],  # noqa: E731
                                    env={**os.environ, "HEALTH_FILE": str(alive)}, cwd=os.getcwd()).returncode
    try:
        wait_for(lambda: api.status(job_id)["status"] == "processing", timeout=300, interval=0.2)
        wait_for(lambda: health() == 1, timeout=60, interval=1)  # stalled: unhealthy ...
        assert time.time() - alive.stat().st_mtime < 5  # ... though the heartbeat keeps the file fresh
        message = take_message(aws("sqs"), settings.queue_url, job_id, timeout=120)  # no longer renewed: it lapsed
        assert process.poll() is None  # still hung (ECS replaces it once its health check fails)
    finally:
        process.kill()
    assert worker.handle(message) == "completed"  # the lease lapsed with the message: another worker claims it
    status = wait_for(lambda: (s := api.status(job_id))["status"] == "completed" and s)
    assert len([o for o in status["outputs"] if o["format"] == "wav" and o["kind"] == "song"]) == 1


def test_sagemaker_ping_and_invocations_with_the_request_in_s3(api, worker, aws, settings):
    import threading

    from inference_container.worker.sagemaker import make_server
    from shared.records import JobMessage

    server = make_server(worker, host="127.0.0.1", port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert requests.get(f"{base}/ping", timeout=5).status_code == 200
        job_id = api.submit(**FAST)["job_id"]
        body = JobMessage.model_validate_json(take_message(aws("sqs"), settings.queue_url, job_id)["Body"])
        assert body.request_key == keys.request_key(job_id)  # the request's location in S3
        reply = requests.post(f"{base}/invocations", data=body.model_dump_json(), timeout=120)
        assert reply.status_code == 200 and reply.json()["outcome"] == "completed"
        assert reply.json()["manifest_key"] == keys.manifest_key(job_id)
        wait_for(lambda: api.status(job_id)["status"] == "completed")
        assert requests.post(f"{base}/invocations", data="not json", timeout=10).status_code == 400
    finally:
        server.shutdown()


def test_compatible_jobs_share_one_sampling_batch_and_keep_their_own_outputs(api, other_api, worker, aws, settings,
                                                                            monkeypatch, tiny_pipeline):
    import numpy as np

    first = api.submit(**FAST, seed=5)["job_id"]
    second = other_api.submit(**FAST, seed=9, lyrics="[00:02.00]another song\n[00:30.00]entirely",
                              style_prompt="jazz")["job_id"]
    messages = [take_message(aws("sqs"), settings.queue_url, job_id) for job_id in (first, second)]
    batches = []
    model = tiny_pipeline.dits["95s"]
    hook = model.register_forward_hook(lambda module, inputs, output: batches.append(inputs[0].shape[0]))
    try:
        assert worker.handle_many(messages) == ["completed", "completed"]
    finally:
        hook.remove()
    assert set(batches) == {4}  # 2 jobs x (conditional + unconditional) in every forward
    for job_id in (first, second):
        wait_for(lambda job_id=job_id: api.status(job_id)["status"] == "completed"
                 if job_id == first else other_api.status(job_id)["status"] == "completed")
    s3 = aws("s3")
    batched = soundfile.read(io.BytesIO(s3.get_object(Bucket=settings.bucket_name,
                                                       Key=keys.output_key(first, 0, "wav"))["Body"].read()))[0]
    from tests.support.songs import request_for

    alone = tiny_pipeline.generate(request_for("[00:00.00]Line 1\n[00:05.00]Line 2",
                                               style_prompt="pop, upbeat, energetic", seed=5, **FAST)).audio[0]
    assert np.abs(batched - alone).max() < 1e-3  # a job's song does not depend on its batch neighbours
