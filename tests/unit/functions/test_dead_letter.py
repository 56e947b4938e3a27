"""The dead-letter consumer's decision: which dead-lettered messages mean that their job was abandoned."""

from __future__ import annotations

from datetime import datetime, timedelta

from functions.status.dead_letter import abandoned as abandoned_with
from shared.records import JobMessage, JobRecord
from shared.states import JobState
from tests.unit.functions.conftest import NOW, make_settings, put_job

SETTINGS = make_settings(max_attempts=3, stale_after_s=900)


def abandoned(job: JobRecord, message: JobMessage, now: datetime) -> bool:
    return abandoned_with(job, message, now, SETTINGS)


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
    job = put_job(table, status=JobState.RUNNING, age_s=4000, lease_until=NOW + timedelta(minutes=5), attempts=1)
    assert not abandoned(job, message(job, 4000), NOW)
    assert not abandoned(job, message(job, 4000), NOW + timedelta(minutes=6))  # ended 1 min ago: between attempts
    assert abandoned(job, message(job, 4000), NOW + timedelta(minutes=20, seconds=1))  # ended over stale_after_s ago


def test_a_duplicate_that_dead_letters_while_the_holder_is_between_attempts_leaves_the_job(table):
    """The holder's retry just ended its lease (its own message comes back in retry_delay_s) while a duplicate's
    repeated ``leased`` receives pushed the duplicate into the dead-letter queue: the job has attempts left."""
    job = put_job(table, status=JobState.RUNNING, age_s=600, attempts=1, lease_until=NOW - timedelta(seconds=5),
                  error="a storage or queue service did not answer in time; it will be retried")
    assert not abandoned(job, message(job, 600), NOW)
    assert abandoned(job.model_copy(update={"attempts": 3}), message(job, 600), NOW)  # out of attempts: failed
    assert not abandoned(job.model_copy(update={"attempts": 2}), message(job, 600), NOW)


def test_final_jobs_are_left_alone(table):
    for state in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED):
        job = put_job(table, status=state)
        assert not abandoned(job, message(job, None), NOW)
