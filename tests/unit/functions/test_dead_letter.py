"""The dead-letter consumer's decision: which dead-lettered messages mean that their job was abandoned."""

from __future__ import annotations

from datetime import timedelta

from functions.status.dead_letter import abandoned
from shared.records import JobMessage, JobRecord
from shared.states import JobState
from tests.unit.functions.conftest import NOW, put_job


def message(job: JobRecord, enqueued_s_ago: float | None) -> JobMessage:
    sent = NOW - timedelta(seconds=enqueued_s_ago) if enqueued_s_ago is not None else None
    return JobMessage(job_id=job.job_id, owner=job.owner, request_key=job.request_key, submitted_at=job.created_at,
                      enqueued_at=sent)


def test_a_job_whose_worker_kept_failing_is_abandoned(table):
    job = put_job(table, status=JobState.RUNNING, age_s=4000, attempts=3)  # lease released by the last retry
    assert abandoned(job, message(job, None), NOW)  # a message sent before messages carried enqueued_at
    assert abandoned(job, message(job, 4000), NOW)


def test_a_message_the_reconciler_replaced_is_not_a_failure(table):
    job = put_job(table, status=JobState.QUEUED, age_s=4000)  # re-queued 60 s ago with a new message
    job = job.model_copy(update={"enqueued_at": NOW - timedelta(seconds=60)})
    assert not abandoned(job, message(job, 4000), NOW)
    assert abandoned(job, message(job, 60), NOW)  # the current message itself


def test_a_job_a_worker_holds_is_not_failed_by_a_duplicate_message(table):
    job = put_job(table, status=JobState.RUNNING, age_s=4000, lease_until=NOW + timedelta(minutes=5))
    assert not abandoned(job, message(job, 4000), NOW)
    assert abandoned(job, message(job, 4000), NOW + timedelta(minutes=6))  # once the lease has ended


def test_final_jobs_are_left_alone(table):
    for state in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED):
        job = put_job(table, status=state)
        assert not abandoned(job, message(job, None), NOW)
