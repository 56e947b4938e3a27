"""The worker's outcome for each kind of message, over in-memory fakes: no queue server, no model, no subprocess.

A stand-in pipeline reports progress like the real one and returns short songs, so what is tested is the worker's
part: claim, progress, cancel, hand-back, retry, permanent failure, batching, and what it leaves in S3 and SQS.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inference_container.diffrhythm.bundle.reader import BundleError
from inference_container.worker.loop import Worker
from shared import keys
from shared.records import FailureRecord, JobRequestRecord, OutputManifest
from shared.states import JobState
from tests.support.fakes import FakeQueue, client_error
from tests.unit.conftest import BUCKET
from tests.unit.worker.support import job_id_of, outputs_of, queue_job


def test_a_job_is_generated_its_files_written_manifest_last_and_its_message_deleted(worker, table, s3, sqs):
    message = queue_job(table, s3, batch_size=2, output_format="mp3")
    assert worker.handle(message) == "completed"
    job_id = job_id_of(message)
    assert outputs_of(s3, message) == {"0.wav", "0.mp3", "0.peaks.json", "1.wav", "1.mp3", "1.peaks.json",
                                       "lyrics.lrc", "lyrics.json", "metadata.json", "result.json"}
    assert list(s3.objects)[-1] == keys.manifest_key(job_id)  # its arrival completes the job: written last
    manifest = OutputManifest.model_validate_json(s3.body(keys.manifest_key(job_id)))
    assert {(o.kind.value, o.index, o.format.value) for o in manifest.outputs} == {
        ("song", 0, "wav"), ("song", 0, "mp3"), ("song", 1, "wav"), ("song", 1, "mp3"), ("peaks", 0, "json"),
        ("peaks", 1, "json"), ("lyrics", 0, "lrc"), ("lyrics", 0, "json")}
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


def test_a_job_whose_manifest_exists_is_not_generated_again(worker, table, s3, sqs, pipeline):
    """A worker died after writing the manifest and before deleting the message, and the status event is late."""
    message = queue_job(table, s3, status=JobState.RUNNING)
    job_id = job_id_of(message)
    s3.put_object(Bucket=BUCKET, Key=keys.manifest_key(job_id), Body=b"{}", ContentType="application/json")
    assert worker.handle(message) == "skipped"
    assert pipeline.batches == [] and outputs_of(s3, message) == {"result.json"}
    assert sqs.deleted == [message["ReceiptHandle"]]
    lease = table.jobs[job_id].lease_until
    assert lease is not None and lease <= datetime.now(UTC)  # left for the status event or the reconciler


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
    assert job.status is JobState.RUNNING
    assert job.error == "an internal error interrupted generation; it will be retried"  # not the driver's text
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


def test_a_groups_songs_are_uploaded_while_the_next_group_samples(worker, table, s3, sqs, pipeline, monkeypatch):
    first, second = queue_job(table, s3, lyrics="[00:01.00]first"), queue_job(table, s3, lyrics="[00:01.00]second",
                                                                            audio_length=120)
    second_sampling, waited = threading.Event(), []
    put = s3.put_object

    def slow_upload(**kwargs: Any) -> dict[str, Any]:  # the first song's first upload waits for the next sampling
        if job_id_of(first) in kwargs["Key"] and not waited:
            waited.append(second_sampling.wait(5))
        return put(**kwargs)

    monkeypatch.setattr(s3, "put_object", slow_upload)
    pipeline.during_sampling = lambda: len(pipeline.batches) == 2 and second_sampling.set()
    assert worker.handle_many([first, second]) == ["completed", "completed"]
    assert waited == [True]  # sequential delivery would have waited 5 s in vain
    assert "result.json" in outputs_of(s3, first) and "result.json" in outputs_of(s3, second)
    assert sorted(sqs.deleted) == sorted(m["ReceiptHandle"] for m in (first, second))


# -- the user's fault or ours: one taxonomy (inference_container/errors.py) -------------------------------------------
def test_an_error_that_is_not_the_users_is_retried_even_when_it_is_a_value_error(worker, table, s3, sqs, pipeline):
    message = queue_job(table, s3)
    pipeline.error = BundleError("the full model is not loaded on this worker")  # another worker may have it
    assert worker.handle(message) == "retry"
    assert keys.failure_key(job_id_of(message)) not in s3.objects and sqs.deleted == []


def _queue_with_reference(table, s3, key: str) -> dict[str, Any]:
    """A job whose style is an uploaded clip at ``key``."""
    message = queue_job(table, s3)
    request_key = keys.request_key(job_id_of(message))
    stored = JobRequestRecord.model_validate_json(s3.body(request_key))
    stored = stored.model_copy(update={"style_prompt": None, "reference_audio_key": key})
    s3.put_object(Bucket=BUCKET, Key=request_key, Body=stored.model_dump_json().encode(),
                  ContentType="application/json")
    return message


def test_a_reference_clip_that_is_not_audio_or_is_gone_fails_the_job(worker, table, s3, sqs):
    not_audio = _queue_with_reference(table, s3, "inputs/owner/notes.wav")
    s3.put_object(Bucket=BUCKET, Key="inputs/owner/notes.wav", Body=b"not a sound file", ContentType="audio/wav")
    gone = _queue_with_reference(table, s3, "inputs/owner/deleted.wav")
    assert worker.handle_many([not_audio, gone]) == ["failed", "failed"]
    reasons = [FailureRecord.model_validate_json(s3.body(keys.failure_key(job_id_of(m)))).reason
               for m in (not_audio, gone)]
    assert "could not be read as audio" in reasons[0] and "no longer exists" in reasons[1]


def test_a_throttled_read_of_the_reference_clip_is_retried_not_blamed_on_the_user(worker, table, s3, sqs,
                                                                                 monkeypatch):
    message = _queue_with_reference(table, s3, "inputs/owner/clip.wav")
    read = s3.get_object

    def throttled(*, Bucket: str, Key: str) -> dict[str, Any]:
        if Key.startswith("inputs/"):
            raise client_error("SlowDown", "GetObject")
        return read(Bucket=Bucket, Key=Key)

    monkeypatch.setattr(s3, "get_object", throttled)
    assert worker.handle(message) == "retry"
    assert keys.failure_key(job_id_of(message)) not in s3.objects


# -- transient AWS errors never end the worker -----------------------------------------------------------------------
def test_an_upload_that_fails_retries_that_job_and_still_delivers_its_neighbours(worker, table, s3, sqs,
                                                                               monkeypatch):
    unlucky, lucky = queue_job(table, s3, lyrics="[00:01.00]first"), queue_job(table, s3, lyrics="[00:01.00]second")
    write = s3.put_object

    def flaky(*, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict[str, Any]:
        if Key.startswith(keys.output_prefix(job_id_of(unlucky))):
            raise client_error("InternalError", "PutObject")
        return write(Bucket=Bucket, Key=Key, Body=Body, ContentType=ContentType)

    monkeypatch.setattr(s3, "put_object", flaky)
    assert worker.handle_many([unlucky, lucky]) == ["retry", "completed"]
    assert "result.json" in outputs_of(s3, lucky) and sqs.deleted == [lucky["ReceiptHandle"]]
    assert sqs.visibility[-1] == (unlucky["ReceiptHandle"], 17)


def test_a_table_error_while_claiming_is_retried(worker, table, s3, sqs, monkeypatch):
    message = queue_job(table, s3)
    monkeypatch.setattr(table, "claim", lambda *a, **k: (_ for _ in ()).throw(
        client_error("ProvisionedThroughputExceededException", "UpdateItem")))
    assert worker.handle(message) == "retry"
    assert sqs.visibility == [(message["ReceiptHandle"], 17)] and sqs.deleted == []


class _FlakyReceive:
    """SQS whose first receive fails, then delivers ``messages`` once, then nothing."""

    def __init__(self, queue: FakeQueue, messages: list[dict[str, Any]]) -> None:
        self.queue, self.messages, self.receives = queue, messages, 0

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.receives += 1
        if self.receives == 1:
            raise client_error("ServiceUnavailable", "ReceiveMessage")
        batch, self.messages = self.messages, []
        return {"Messages": batch}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)


def test_a_failed_receive_backs_off_and_polls_again(worker, table, s3, sqs, tmp_path, monkeypatch):
    monkeypatch.setenv("HEALTH_FILE", str(tmp_path / "alive"))
    monkeypatch.setattr("inference_container.worker.health.HEALTH_FILE", str(tmp_path / "alive"))
    message = queue_job(table, s3)
    worker.sqs = _FlakyReceive(sqs, [message])
    worker.run(max_messages=1)  # would raise out of the loop (and end the process) before
    assert worker.sqs.receives == 2 and worker.stats == {"completed": 1}
    assert table.last_seen is not None and table.last_seen[1] == "cpu"


@pytest.mark.parametrize(("outcome", "status"), [("completed", 200), ("failed", 200), ("cancelled", 200),
                                                 ("skipped", 200), ("timed_out", 200), ("retry", 503),
                                                 ("handed_back", 503), ("abandoned", 503)])
def test_sagemaker_answers_a_failure_for_a_job_that_must_run_again(outcome, status):
    from inference_container.worker.loop import Outcome
    from inference_container.worker.sagemaker import reply_for

    code, body = reply_for(Outcome(outcome), '{"job_id": "j-1"}')
    assert (int(code), body["outcome"], body["job_id"]) == (status, outcome, "j-1")
    assert (body["manifest_key"] is not None) == (outcome == "completed")
    assert int(reply_for(Outcome.UNREADABLE, "not json")[0]) == 400


class _StopDuringReceive:
    """SQS whose long poll returns ``messages`` after the worker was told to stop (SIGTERM mid-poll)."""

    def __init__(self, queue: FakeQueue, worker: Worker, messages: list[dict[str, Any]]) -> None:
        self.queue, self.worker, self.messages = queue, worker, messages

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.worker.stop(grace_s=0)
        return {"Messages": self.messages}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)


def test_messages_received_after_a_stop_go_back_unclaimed(worker, table, s3, sqs, pipeline, tmp_path, monkeypatch):
    monkeypatch.setattr("inference_container.worker.health.HEALTH_FILE", str(tmp_path / "alive"))
    message = queue_job(table, s3)
    worker.sqs = _StopDuringReceive(sqs, worker, [message])
    worker.run()
    assert sqs.visibility == [(message["ReceiptHandle"], 0)] and sqs.deleted == []
    assert table.jobs[job_id_of(message)].status is JobState.QUEUED and pipeline.batches == []


@pytest.mark.parametrize(("error", "shown"), [
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 22.06 GiB total)"),
     "the GPU ran out of memory"),
    (client_error("AccessDenied", "PutObject"), "a storage or queue service did not answer in time"),
    (KeyError("arn:aws:s3:::secret-bucket/outputs"), "an internal error interrupted generation"),
])
def test_users_read_what_kind_of_problem_it_was_never_its_internal_text(worker, table, s3, pipeline, error, shown):
    message = queue_job(table, s3)
    pipeline.error = error
    assert worker.handle(message) == "retry"
    assert table.jobs[job_id_of(message)].error == f"{shown}; it will be retried"


# -- claims are exclusive: a lease that the heartbeat renews ----------------------------------------------------------
def test_a_duplicate_delivery_of_a_job_another_worker_holds_is_not_generated(worker, table, s3, sqs, pipeline):
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    now = datetime.now(UTC)
    assert table.claim(job_id, now, now + timedelta(seconds=120)) is not None  # another worker has it
    assert worker.handle(dict(message, ReceiptHandle="receipt-duplicate")) == "leased"
    assert pipeline.batches == [] and sqs.deleted == []
    handle, delay = sqs.visibility[-1]
    assert handle == "receipt-duplicate" and 100 <= delay <= 120  # back when that lease ends


def test_a_job_whose_worker_died_is_claimed_once_its_lease_has_ended(worker, table, s3, sqs, pipeline):
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    assert table.claim(job_id, long_ago, long_ago + timedelta(seconds=300)) is not None  # then SIGKILL
    assert worker.handle(message) == "completed" and len(pipeline.batches) == 1


def test_handing_back_and_retrying_release_the_lease(worker, table, s3, pipeline):
    handed, retried = queue_job(table, s3, lyrics="[00:01.00]first"), queue_job(table, s3, lyrics="[00:01.00]second")
    pipeline.during_sampling = lambda: worker.stop(grace_s=0)
    assert worker.handle(handed) == "handed_back"
    pipeline.during_sampling, pipeline.error = (lambda: None), RuntimeError("boom")
    assert worker.handle(retried) == "retry"
    # a lease that has ended, not none: were the message lost, the reconciler would see the job as stale
    assert all((lease := table.jobs[job_id_of(m)].lease_until) is not None and lease <= datetime.now(UTC)
               for m in (handed, retried))
