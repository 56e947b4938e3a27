"""The worker's outcome for each kind of message, over in-memory fakes: no queue server, no model, no subprocess.

A stand-in pipeline reports progress like the real one and returns short songs, so what is tested is the worker's
part: claim, progress, cancel, hand-back, retry, permanent failure, batching, and what it leaves in S3 and SQS.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from inference_container.diffrhythm.pipeline import Song, SongRequest
from inference_container.worker.job import JobRunner
from inference_container.worker.loop import Worker
from inference_container.worker.settings import WorkerSettings
from shared import keys
from shared.contract import GenerateRequest
from shared.records import FailureRecord, JobMessage, JobRecord, JobRequestRecord, OutputManifest
from shared.states import JobState
from tests.unit.fakes import FakeJobTable, FakeObjectStore, FakeQueue

BUCKET, QUEUE_URL = "worker-bucket", "https://sqs.example/worker-jobs"
RATE = 44100


class StandInPipeline:
    """The two methods the worker uses of ``Pipeline``. Lyrics in ``refuse`` or ``crash`` make it raise (as the real
    pipeline does for bad input, or as a GPU error would); ``during_sampling`` runs between two progress reports."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.refuse: set[str] = set()
        self.crash: set[str] = set()
        self.during_sampling: Callable[[], None] = lambda: None

    @staticmethod
    def batch_key(request: SongRequest) -> tuple[int, int, float]:
        return request.audio_length, request.steps, request.cfg_strength

    def generate_batch(self, requests: Sequence[SongRequest], progress: Callable[[str, float], None]) -> list[Song]:
        self.batches.append([r.lrc for r in requests])
        if refused := [r.lrc for r in requests if r.lrc in self.refuse]:
            raise ValueError(f"cannot sing {refused[0]!r}")
        if any(r.lrc in self.crash for r in requests):
            raise RuntimeError("CUDA error: an illegal memory access (simulated)")
        progress("lyrics", 0.0)
        progress("sampling", 5.0)
        self.during_sampling()
        progress("sampling", 50.0)
        tone = (0.1 * np.sin(np.linspace(0, 200, RATE // 10)))[:, None].repeat(2, axis=1).astype(np.float32)
        return [Song([tone] * r.variations, RATE, [], {"seed": r.seed, "timings": {"sampling_s": 0.5}})
                for r in requests]


@pytest.fixture
def table() -> FakeJobTable:
    return FakeJobTable()


@pytest.fixture
def s3() -> FakeObjectStore:
    return FakeObjectStore(BUCKET)


@pytest.fixture
def sqs() -> FakeQueue:
    return FakeQueue(QUEUE_URL)


@pytest.fixture
def pipeline() -> StandInPipeline:
    return StandInPipeline()


@pytest.fixture
def worker(table: FakeJobTable, s3: FakeObjectStore, sqs: FakeQueue, pipeline: StandInPipeline) -> Worker:
    settings = WorkerSettings(_env_prefix="DIFFRHYTHM_UNIT_TEST_", bucket_name=BUCKET, queue_url=QUEUE_URL,
                              progress_interval_s=0, heartbeat_s=3600, grace_s=0)
    return Worker(settings, JobRunner(pipeline, s3, BUCKET), table, sqs, device="cpu", retry_delay_s=17)


def queue_job(table: FakeJobTable, s3: FakeObjectStore, lyrics: str = "[00:01.00]hello there",
              status: JobState = JobState.QUEUED, **fields: Any) -> dict[str, Any]:
    """A job as the API leaves it (item, stored request) and the SQS message a worker receives for it."""
    job_id, now = str(uuid.uuid4()), datetime.now(UTC)
    request = GenerateRequest(lyrics=lyrics, style_prompt="pop", preset="preview", **fields)
    stored = JobRequestRecord(**{**request.model_dump(), "seed": 7}, job_id=job_id, owner="owner", lrc=lyrics,
                              submitted_at=now)
    s3.put_object(Bucket=BUCKET, Key=keys.request_key(job_id), Body=stored.model_dump_json().encode(),
                  ContentType="application/json")
    table.jobs[job_id] = JobRecord(
        job_id=job_id, owner="owner", status=status, created_at=now, updated_at=now, enqueued_at=now,
        expires_at=JobRecord.ttl(now, 1), request_key=keys.request_key(job_id), request_sha256="0" * 64,
        audio_length=request.audio_length, batch_size=request.batch_size, output_format=request.output_format,
        seed=7)
    body = JobMessage(job_id=job_id, owner="owner", request_key=keys.request_key(job_id), submitted_at=now)
    return {"Body": body.model_dump_json(), "ReceiptHandle": f"receipt-{job_id}"}


def job_id_of(message: dict[str, Any]) -> str:
    return str(json.loads(message["Body"])["job_id"])


def outputs_of(s3: FakeObjectStore, message: dict[str, Any]) -> set[str]:
    prefix = keys.output_prefix(job_id_of(message))
    return {key[len(prefix):] for key in s3.objects if key.startswith(prefix)}


def test_a_job_is_generated_its_files_written_manifest_last_and_its_message_deleted(worker, table, s3, sqs):
    message = queue_job(table, s3, batch_size=2, output_format="mp3")
    assert worker.handle(message) == "completed"
    job_id = job_id_of(message)
    assert outputs_of(s3, message) == {"0.wav", "0.mp3", "0.peaks.json", "1.wav", "1.mp3", "1.peaks.json",
                                       "metadata.json", "result.json"}
    assert list(s3.objects)[-1] == keys.manifest_key(job_id)  # its arrival completes the job: written last
    manifest = OutputManifest.model_validate_json(s3.body(keys.manifest_key(job_id)))
    assert {(o.index, o.format.value) for o in manifest.outputs} == {(0, "wav"), (0, "mp3"), (1, "wav"), (1, "mp3")}
    assert s3.objects[keys.output_key(job_id, 1, "mp3")][1] == "audio/mpeg"
    assert sqs.deleted == [message["ReceiptHandle"]]
    job = table.jobs[job_id]
    assert job.status is JobState.RUNNING and job.attempts == 1 and job.progress_stage == "sampling"


@pytest.mark.parametrize("status", [None, JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED])
def test_an_unknown_or_finished_job_is_skipped_and_its_message_deleted(worker, table, s3, sqs, pipeline, status):
    message = queue_job(table, s3, status=status or JobState.QUEUED)
    if status is None:
        del table.jobs[job_id_of(message)]
    assert worker.handle(message) == "skipped"
    assert pipeline.batches == [] and outputs_of(s3, message) == set()
    assert sqs.deleted == [message["ReceiptHandle"]]


def test_input_the_pipeline_refuses_fails_the_job_at_once_with_the_reason(worker, table, s3, sqs, pipeline):
    message = queue_job(table, s3, lyrics="[00:01.00]unsingable")
    pipeline.refuse.add("[00:01.00]unsingable")
    assert worker.handle(message) == "failed"
    failure = FailureRecord.model_validate_json(s3.body(keys.failure_key(job_id_of(message))))
    assert failure.code == "invalid_input" and "unsingable" in failure.reason
    assert sqs.deleted == [message["ReceiptHandle"]] and outputs_of(s3, message) == set()


def test_a_transient_error_is_recorded_and_the_message_comes_back_later(worker, table, s3, sqs, pipeline):
    message = queue_job(table, s3, lyrics="[00:01.00]unlucky")
    pipeline.crash.add("[00:01.00]unlucky")
    assert worker.handle(message) == "retry"
    job = table.jobs[job_id_of(message)]
    assert job.status is JobState.RUNNING and "illegal memory access" in (job.error or "")
    assert sqs.deleted == [] and sqs.visibility[-1] == (message["ReceiptHandle"], 17)
    assert keys.failure_key(job.job_id) not in s3.objects


def test_a_message_that_is_not_a_job_is_left_for_the_dead_letter_queue(worker, sqs, pipeline):
    assert worker.handle({"Body": "not json", "ReceiptHandle": "receipt-x"}) == "unreadable"
    assert sqs.deleted == [] and sqs.visibility == [] and pipeline.batches == []


def test_a_job_cancelled_while_it_runs_stops_without_outputs(worker, table, s3, sqs, pipeline):
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    pipeline.during_sampling = lambda: table.transition(job_id, JobState.CANCELLED)
    assert worker.handle(message) == "cancelled"
    assert outputs_of(s3, message) == set() and table.jobs[job_id].status is JobState.CANCELLED
    assert sqs.deleted == [message["ReceiptHandle"]]


def test_a_stopping_worker_hands_the_job_back_at_once(worker, table, s3, sqs, pipeline):
    message = queue_job(table, s3)
    pipeline.during_sampling = lambda: worker.stop(grace_s=0)  # SIGTERM with no grace left
    assert worker.handle(message) == "handed_back"
    assert sqs.visibility[-1] == (message["ReceiptHandle"], 0) and sqs.deleted == []
    assert outputs_of(s3, message) == set() and table.jobs[job_id_of(message)].status is JobState.RUNNING


def test_compatible_jobs_share_a_batch_and_only_the_job_at_fault_fails(worker, table, s3, sqs, pipeline):
    good, bad = queue_job(table, s3, lyrics="[00:01.00]fine"), queue_job(table, s3, lyrics="[00:01.00]broken")
    other_length = queue_job(table, s3, lyrics="[00:01.00]longer", audio_length=120)
    pipeline.refuse.add("[00:01.00]broken")
    assert worker.handle_many([good, bad, other_length]) == ["completed", "failed", "completed"]
    assert pipeline.batches == [["[00:01.00]fine", "[00:01.00]broken"], ["[00:01.00]fine"], ["[00:01.00]broken"],
                                ["[00:01.00]longer"]]  # the shared batch, then each alone to find the fault
    assert "result.json" in outputs_of(s3, good) and "result.json" in outputs_of(s3, other_length)
    assert keys.failure_key(job_id_of(bad)) in s3.objects and outputs_of(s3, bad) == set()
    assert sorted(sqs.deleted) == sorted(m["ReceiptHandle"] for m in (good, bad, other_length))
