"""The status function's outcome logic over fakes: S3 objects -> final states, and one webhook per job."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from functions.status.handler import StatusRecorder
from shared import keys
from shared.records import ManifestOutput, OutputManifest, WebhookEvent
from shared.states import JobState
from shared.storage import put_failure
from tests.support.fakes import FakeQueue, client_error
from tests.unit.conftest import WEBHOOK_QUEUE_URL
from tests.unit.functions.conftest import BUCKET, make_settings, put_job


@pytest.fixture
def webhooks() -> FakeQueue:
    """The webhook queue the recorder sends final-state events to."""
    return FakeQueue(WEBHOOK_QUEUE_URL)


@pytest.fixture
def recorder(table, s3, webhooks) -> StatusRecorder:
    return StatusRecorder(make_settings(webhook_queue_url=WEBHOOK_QUEUE_URL), table, s3, webhooks)


def queued_events(webhooks: FakeQueue) -> list[WebhookEvent]:
    return [WebhookEvent.model_validate_json(body) for body in webhooks.bodies]


def write_outputs(s3, job_id: str, formats: tuple[str, ...] = ("wav",), sizes: int = 5) -> None:
    outputs = []
    for fmt in formats:
        key = keys.output_key(job_id, 0, fmt)
        s3.objects[key] = (b"x" * sizes, "audio/wav")
        outputs.append(ManifestOutput(index=0, format=fmt, key=key, duration_s=95.0, sample_rate=44100, channels=2))
    manifest = OutputManifest(job_id=job_id, outputs=outputs, duration_s=95.0)
    s3.objects[keys.manifest_key(job_id)] = (manifest.model_dump_json().encode(), "application/json")


def test_the_manifest_completes_the_job_with_sizes_read_from_the_bucket(recorder, table, s3):
    job = put_job(table, status=JobState.RUNNING)
    write_outputs(s3, job.job_id, ("wav", "mp3"), sizes=7)
    done = recorder.apply(keys.manifest_key(job.job_id))
    assert done is not None and done.status is JobState.COMPLETED and done.completed_at and done.duration_s == 95.0
    assert [(o.format, o.size_bytes) for o in done.outputs] == [("wav", 7), ("mp3", 7)]
    assert (done.progress_stage, done.progress_percent) == ("done", 100.0)


def test_a_manifest_naming_a_missing_file_fails_the_job(recorder, table, s3):
    job = put_job(table)
    write_outputs(s3, job.job_id)
    del s3.objects[keys.output_key(job.job_id, 0, "wav")]
    failed = recorder.apply(keys.manifest_key(job.job_id))
    assert failed is not None and failed.status is JobState.FAILED and "incomplete" in (failed.error or "")


def test_a_failure_record_fails_the_job_with_its_reason(recorder, table, s3):
    job = put_job(table, status=JobState.RUNNING)
    put_failure(s3, BUCKET, job.job_id, "invalid_input", "reference clip is 4.2 s long")
    failed = recorder.apply(keys.failure_key(job.job_id))
    assert failed is not None and failed.status is JobState.FAILED and failed.error == "reference clip is 4.2 s long"


def test_an_unreadable_failure_record_still_fails_the_job(recorder, table, s3):
    job = put_job(table)
    s3.objects[keys.failure_key(job.job_id)] = (b"not json", "application/json")
    failed = recorder.apply(keys.failure_key(job.job_id))
    assert failed is not None and failed.error == "generation failed for an unknown reason"


def test_duplicate_and_late_objects_never_move_a_final_job(recorder, table, s3):
    job = put_job(table, status=JobState.RUNNING)
    write_outputs(s3, job.job_id)
    done = recorder.apply(keys.manifest_key(job.job_id))
    assert recorder.apply(keys.manifest_key(job.job_id)) is None
    put_failure(s3, BUCKET, job.job_id, "generation_failed", "late")
    assert recorder.apply(keys.failure_key(job.job_id)) is None
    assert table.jobs[job.job_id] == done


def test_other_keys_and_unknown_jobs_change_nothing(recorder, table):
    assert recorder.apply("outputs/not-a-job/0.wav") is None
    assert table.calls == []  # not a key the status function acts on
    assert recorder.apply(keys.manifest_key("00000000-0000-4000-8000-000000000000")) is None
    assert table.jobs == {}


def test_each_final_state_is_queued_for_its_webhook_once_and_not_posted(recorder, table, s3, webhooks, monkeypatch):
    import socket

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("the status function connected"))
    job = put_job(table, status=JobState.RUNNING, webhook_url="https://example.com/hook")
    write_outputs(s3, job.job_id)
    recorder.apply(keys.manifest_key(job.job_id))
    recorder.apply(keys.manifest_key(job.job_id))  # a duplicate event
    assert [(e.event, e.job_id, e.status) for e in queued_events(webhooks)] == [
        ("job.completed", job.job_id, "completed")]
    saved = table.jobs[job.job_id]
    assert saved.webhook_queued_at is not None and saved.webhook_delivered_at is None  # the webhook function's job
    assert table.notifying == set()  # out of the reconciler's NOTIFY partition


def test_a_cancellation_marker_queues_the_cancelled_event(recorder, table, webhooks):
    job = put_job(table, status=JobState.CANCELLED, webhook_url="https://example.com/hook")
    assert recorder.apply(keys.cancellation_key(job.job_id)) is None  # no state change: the API cancelled it
    assert [e.event for e in queued_events(webhooks)] == ["job.cancelled"]


def test_a_job_without_a_webhook_queues_nothing(recorder, table, s3, webhooks):
    job = put_job(table, status=JobState.RUNNING)
    put_failure(s3, BUCKET, job.job_id, "generation_failed", "no")
    recorder.apply(keys.failure_key(job.job_id))
    assert webhooks.bodies == [] and table.jobs[job.job_id].webhook_queued_at is None
    assert table.notifying == set()  # nothing to notify: out of the NOTIFY partition at once


def test_a_failed_send_raises_so_the_event_comes_again_and_the_job_stays_to_notify(recorder, table, s3, webhooks):
    job = put_job(table, webhook_url="https://example.com/hook")
    put_failure(s3, BUCKET, job.job_id, "dead_letter", "abandoned")
    webhooks.failing = client_error("ThrottlingException", "SendMessage")
    with pytest.raises(ClientError, match="Throttling"):
        recorder.apply(keys.failure_key(job.job_id))
    assert table.jobs[job.job_id].status is JobState.FAILED and table.jobs[job.job_id].webhook_queued_at is None
    assert table.notifying == {job.job_id}  # the reconciler would queue it if this event never came again
    webhooks.failing = None
    recorder.apply(keys.failure_key(job.job_id))  # the redelivered status event
    assert [e.event for e in queued_events(webhooks)] == ["job.failed"] and table.notifying == set()


def test_the_event_is_sent_before_it_is_recorded_so_a_failed_write_sends_it_again(recorder, table, s3, webhooks,
                                                                                  monkeypatch):
    """At least once: a crash or failed write after the send leaves ``webhook_queued_at`` unset and the job NOTIFY,
    so the next status event (or the reconciler) sends the event again; receivers drop the repeat by ``event_id``."""
    job = put_job(table, status=JobState.RUNNING, webhook_url="https://example.com/hook")
    write_outputs(s3, job.job_id)
    set_fields = table.set_fields

    def throttled(job_id, **fields):
        if "webhook_queued_at" in fields:
            raise client_error("ThrottlingException", "UpdateItem")
        return set_fields(job_id, **fields)

    monkeypatch.setattr(table, "set_fields", throttled)
    with pytest.raises(ClientError, match="Throttling"):
        recorder.apply(keys.manifest_key(job.job_id))
    assert len(webhooks.bodies) == 1 and table.notifying == {job.job_id}  # sent, not recorded
    monkeypatch.setattr(table, "set_fields", set_fields)
    recorder.apply(keys.manifest_key(job.job_id))  # the status event again
    first, second = queued_events(webhooks)
    assert first == second and table.jobs[job.job_id].webhook_queued_at is not None and table.notifying == set()
    recorder.apply(keys.manifest_key(job.job_id))  # once recorded, a duplicate event sends nothing
    assert len(webhooks.bodies) == 2


def test_a_manifest_pointing_outside_its_jobs_folder_fails_the_job_and_presigns_nothing(recorder, table, s3):
    victim, job = put_job(table, status=JobState.COMPLETED, outputs=("wav",)), put_job(table, status=JobState.RUNNING)
    s3.objects[keys.output_key(victim.job_id, 0, "wav")] = (b"someone else's song", "audio/wav")
    outputs = [ManifestOutput(index=0, format="wav", key=keys.output_key(victim.job_id, 0, "wav"), duration_s=95.0,
                              sample_rate=44100, channels=2)]
    manifest = OutputManifest(job_id=job.job_id, outputs=outputs, duration_s=95.0)
    s3.objects[keys.manifest_key(job.job_id)] = (manifest.model_dump_json().encode(), "application/json")
    failed = recorder.apply(keys.manifest_key(job.job_id))
    assert failed is not None and failed.status is JobState.FAILED and failed.outputs == []


def test_a_throttled_read_is_raised_for_redelivery_not_taken_as_broken_output(recorder, table, s3, monkeypatch):
    job = put_job(table, status=JobState.RUNNING)
    write_outputs(s3, job.job_id)
    monkeypatch.setattr(s3, "head_object", lambda **_: (_ for _ in ()).throw(client_error("SlowDown", "HeadObject")))
    with pytest.raises(Exception, match="SlowDown"):
        recorder.apply(keys.manifest_key(job.job_id))
    assert table.jobs[job.job_id].status is JobState.RUNNING


def test_each_failing_path_records_its_error_code(recorder, table, s3, webhooks):
    worker = put_job(table, status=JobState.RUNNING, webhook_url="https://example.com/hook")
    put_failure(s3, BUCKET, worker.job_id, "invalid_input", "the lyrics could not be sung")
    assert recorder.apply(keys.failure_key(worker.job_id)).error_code == "invalid_input"  # the record's code
    broken = put_job(table, status=JobState.RUNNING)
    write_outputs(s3, broken.job_id)
    del s3.objects[keys.output_key(broken.job_id, 0, "wav")]
    assert recorder.apply(keys.manifest_key(broken.job_id)).error_code == "output_incomplete"
    unreadable = put_job(table, status=JobState.RUNNING)
    s3.objects[keys.failure_key(unreadable.job_id)] = (b"not json", "application/json")
    assert recorder.apply(keys.failure_key(unreadable.job_id)).error_code == "internal"
    done = put_job(table, status=JobState.RUNNING)
    write_outputs(s3, done.job_id)
    assert recorder.apply(keys.manifest_key(done.job_id)).error_code is None
    (event,) = queued_events(webhooks)
    assert (event.job_id, event.error_code) == (worker.job_id, "invalid_input")  # the webhook carries it
