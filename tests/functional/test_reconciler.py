"""The reconciler's Lambda handler against the local stack (moto): one pass settles a job whose S3 event was dropped,
re-queues one whose worker died, fails one out of attempts and one queued too long, each through the real index
query, the table's conditional writes, S3 and SQS."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from functions.status import reconcile
from infrastructure.local.dispatcher import LambdaContext, scheduled_event
from shared import keys
from shared.records import JobMessage, JobRecord, utcnow
from shared.states import JobState
from shared.store import JobStore
from tests.conftest import wait_for
from tests.worker_sim import take_message, write_outputs


def _stale_job(store: JobStore, owner: str, *, attempts: int = 1, queued_for_s: float | None = None,
               job_id: str | None = None) -> JobRecord:
    """A job created an hour (or ``queued_for_s``) ago: claimed by a worker whose lease ended 20 minutes ago (more
    than STALE_AFTER_S), or still queued when ``queued_for_s`` is given."""
    now = utcnow()
    created = now - timedelta(seconds=queued_for_s or 3600)
    job_id = job_id or str(uuid.uuid4())
    record = JobRecord(job_id=job_id, owner=owner, created_at=created, updated_at=created, enqueued_at=created,
                       expires_at=JobRecord.ttl(now, 1), request_key=keys.request_key(job_id), request_sha256="0",
                       audio_length=95, batch_size=1, output_format="wav", seed=1)
    assert store.create(record)
    if queued_for_s is None:
        claimed = store.claim(job_id, created, now - timedelta(minutes=20), started_at=now - timedelta(minutes=35),
                              attempts=attempts)
        assert claimed is not None
    return record


def test_one_pass_settles_dropped_events_dead_workers_and_jobs_waiting_too_long(stack, api, settings, aws):
    store, s3, sqs = JobStore(aws("dynamodb"), settings.table_name), aws("s3"), aws("sqs")
    owner = api.owner
    assert settings.stale_after_s <= 20 * 60 and settings.max_attempts == 3
    finished_id = str(uuid.uuid4())
    write_outputs(s3, settings.bucket_name, finished_id)  # a worker finished this job, but its S3 event is lost:
    wait_for(lambda: stack.dispatcher.processed[keys.manifest_key(finished_id)])  # it came before the job existed
    with stack.dispatcher.reconciler_paused():  # only this test's pass may run
        finished = _stale_job(store, owner, job_id=finished_id)
        dead = _stale_job(store, owner, attempts=1)
        exhausted = _stale_job(store, owner, attempts=3)
        waited = _stale_job(store, owner, queued_for_s=settings.max_queued_s + 60)
        result = reconcile.handler(scheduled_event("ReconcileSchedule", settings.aws_region),
                                   LambdaContext("ReconcileFunction"))
    assert result["applied"] >= 1 and result["requeued"] >= 1 and result["dead_lettered"] >= 1
    assert result["timed_out"] >= 1 and result["errors"] == 0

    done = store.get(finished.job_id)
    assert done.status is JobState.COMPLETED and done.outputs  # completed from its manifest, not run again

    requeued = store.get(dead.job_id)
    assert requeued.status is JobState.QUEUED and requeued.lease_until is None and requeued.attempts == 1
    assert api.status(dead.job_id)["status"] == "queued"  # the user sees it waiting again
    message = take_message(sqs, settings.queue_url, dead.job_id)
    assert JobMessage.model_validate_json(message["Body"]).enqueued_at == requeued.enqueued_at
    sqs.delete_message(QueueUrl=settings.queue_url, ReceiptHandle=message["ReceiptHandle"])

    for job, code in ((exhausted, "dead_letter"), (waited, "timed_out")):
        failed = api.status(job.job_id)
        assert failed["status"] == "failed" and failed["error_code"] == code and "submit" in failed["error"]
        record = json.loads(s3.get_object(Bucket=settings.bucket_name, Key=keys.failure_key(job.job_id))["Body"].read())
        assert record["code"] == code

    later = utcnow() + timedelta(days=1)  # nothing of this test is left running
    ids = {finished.job_id, dead.job_id, exhausted.job_id, waited.job_id}
    assert not ids & {a.job_id for a in store.running_stale(later, later)}
    store.transition(dead.job_id, JobState.CANCELLED)  # leave nothing queued for later tests
