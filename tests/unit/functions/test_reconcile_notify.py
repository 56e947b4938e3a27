"""The reconciler's last step over fakes: a final job whose webhook event was never queued (an applied record whose
send failed, a cancel whose marker was not written) stays NOTIFY and gets its event queued ``notify_after_s`` later."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.status.handler import StatusRecorder
from functions.status.reconcile import Reconciler
from shared import keys
from shared.records import ManifestOutput, OutputManifest, WebhookEvent
from shared.settings import Settings
from shared.states import JobState
from shared.storage import put_json
from tests.support.fakes import FakeClock, FakeQueue, client_error
from tests.unit.conftest import BUCKET, WEBHOOK_QUEUE_URL
from tests.unit.functions.conftest import NOW, OWNER, make_settings, put_job

HOOK = "https://example.com/hook"


@pytest.fixture
def settings() -> Settings:
    return make_settings(webhook_queue_url=WEBHOOK_QUEUE_URL, stale_after_s=900, notify_after_s=60)


@pytest.fixture
def webhooks() -> FakeQueue:
    return FakeQueue(WEBHOOK_QUEUE_URL)


@pytest.fixture
def reconciler(settings, table, s3, sqs, clock, webhooks) -> Reconciler:
    return Reconciler(settings, table, s3, sqs, StatusRecorder(settings, table, s3, webhooks), clock)


def events(webhooks: FakeQueue) -> list[str]:
    return [WebhookEvent.model_validate_json(body).event for body in webhooks.bodies]


def test_an_applied_record_whose_webhook_send_failed_is_notified_by_a_later_pass(reconciler, table, s3, webhooks,
                                                                                 clock: FakeClock):
    """The reconciler applies a dropped manifest event; the webhook queue throttles the send. The job is final (out
    of the running jobs the reconciler looks at) but stays NOTIFY: a pass ``notify_after_s`` later queues it."""
    job = put_job(table, status=JobState.RUNNING, webhook_url=HOOK, lease_until=NOW - timedelta(seconds=1000),
                  started_at=NOW - timedelta(seconds=1900), attempts=1)
    wav = keys.output_key(job.job_id, 0, "wav")
    s3.objects[wav] = (b"RIFF....", "audio/wav")
    put_json(s3, BUCKET, keys.manifest_key(job.job_id), OutputManifest(job_id=job.job_id, duration_s=95.0, outputs=[
        ManifestOutput(index=0, format="wav", key=wav, duration_s=95.0, sample_rate=44100, channels=2)]))
    webhooks.failing = client_error("ThrottlingException", "SendMessage")
    first = reconciler.run()
    assert first["errors"] == 1 and first["notified"] == 0 and table.jobs[job.job_id].status is JobState.COMPLETED
    webhooks.failing = None
    clock.now = table.jobs[job.job_id].completed_at + timedelta(seconds=59)  # type: ignore[operator]
    assert reconciler.run()["notified"] == 0 and webhooks.bodies == []  # the status function's turn still
    clock.advance(2)
    assert reconciler.run()["notified"] == 1 and events(webhooks) == ["job.completed"]
    assert table.jobs[job.job_id].webhook_queued_at is not None and table.notifying == set()
    clock.advance(600)
    assert reconciler.run()["notified"] == 0 and len(webhooks.bodies) == 1  # settled: queued once


def test_a_cancel_whose_marker_was_not_written_is_notified_by_the_reconciler(reconciler, services, table, s3,
                                                                            webhooks, clock, monkeypatch):
    job = put_job(table, webhook_url=HOOK)
    monkeypatch.setattr(s3, "put_object", lambda **_: (_ for _ in ()).throw(client_error("SlowDown", "PutObject")))
    # the caller's cancel succeeded (the marker only triggers the webhook)
    assert services.cancellations.cancel(job.job_id, OWNER).status is JobState.CANCELLED
    assert table.jobs[job.job_id].status is JobState.CANCELLED and keys.cancellation_key(job.job_id) not in s3.objects
    assert reconciler.run()["notified"] == 0  # the status function's turn still
    clock.advance(reconciler.settings.notify_after_s + 1)
    assert reconciler.run()["notified"] == 1
    assert events(webhooks) == ["job.cancelled"]


def test_a_final_job_without_a_webhook_leaves_notify_with_nothing_queued(reconciler, table, webhooks):
    job = put_job(table, status=JobState.RUNNING)
    assert table.transition(job.job_id, JobState.FAILED, completed_at=NOW - timedelta(minutes=5)) is not None
    assert table.notifying == {job.job_id}
    assert reconciler.run()["notified"] == 1 and webhooks.bodies == [] and table.notifying == set()
