"""``shared.jobs.JobStore`` against DynamoDB (moto) at fixed times: the rate window, the reconciler's query and its
conditional transition."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.jobs import JobStore
from shared.records import JobRecord
from shared.states import JobState

END_OF_HOUR = datetime(2031, 3, 4, 13, 0, tzinfo=UTC)


def _job(owner: str, created: datetime, enqueued: bool) -> JobRecord:
    return JobRecord(job_id=str(uuid.uuid4()), owner=owner, created_at=created, updated_at=created,
                     enqueued_at=created if enqueued else None, expires_at=JobRecord.ttl(created, 30),
                     request_key="requests/x.json", request_sha256="0", audio_length=95, batch_size=1,
                     output_format="wav", seed=1)


def test_the_rate_window_is_the_clock_hour_of_now(settings, aws):
    store = JobStore(aws("dynamodb"), settings.table_name)
    owner = f"rate-{uuid.uuid4().hex[:8]}"
    assert store.take_rate_token(owner, 2, END_OF_HOUR - timedelta(minutes=59)) is None
    assert store.take_rate_token(owner, 2, END_OF_HOUR - timedelta(seconds=90)) is None
    assert store.take_rate_token(owner, 2, END_OF_HOUR - timedelta(seconds=90)) == 90  # seconds to the next hour
    assert store.take_rate_token(owner, 2, END_OF_HOUR) is None  # a new window
    assert store.take_rate_token(f"{owner}-other", 2, END_OF_HOUR - timedelta(seconds=90)) is None


def test_unqueued_before_lists_old_queued_jobs_and_transition_can_require_an_unset_attribute(stack, settings, aws):
    store = JobStore(aws("dynamodb"), settings.table_name)
    owner = f"store-{uuid.uuid4().hex[:8]}"
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)  # before every other job of the session
    with stack.dispatcher.reconciler_paused():  # these are orphans: leave them to this test
        orphan, sent, running = (_job(owner, long_ago + timedelta(minutes=i), e) for i, e in
                                 enumerate((False, True, False)))
        for job in (orphan, sent, running):
            assert store.create(job)
        store.transition(running.job_id, JobState.RUNNING)
        assert store.unqueued_before(long_ago + timedelta(hours=1)) == [orphan.job_id]  # sent and running: not
        assert store.unqueued_before(long_ago + timedelta(seconds=30)) == [orphan.job_id]
        assert store.unqueued_before(long_ago) == []
        assert store.transition(sent.job_id, JobState.FAILED, only_if_absent="enqueued_at") is None
        failed = store.transition(orphan.job_id, JobState.FAILED, only_if_absent="enqueued_at", error="orphan")
        assert failed is not None and failed.status is JobState.FAILED
        assert store.unqueued_before(long_ago + timedelta(hours=1)) == []
        store.transition(sent.job_id, JobState.CANCELLED)
        store.transition(running.job_id, JobState.CANCELLED)


def test_a_claim_holds_until_its_lease_ends(settings, aws):
    store = JobStore(aws("dynamodb"), settings.table_name)
    start = datetime(2030, 1, 1, 12, tzinfo=UTC)
    job = _job(f"lease-{uuid.uuid4().hex[:8]}", start, True)
    assert store.create(job)
    first = store.claim(job.job_id, start, start + timedelta(seconds=300), attempts=1)
    assert first is not None and first.status is JobState.RUNNING and first.lease_until == start + timedelta(minutes=5)
    assert store.claim(job.job_id, start + timedelta(seconds=299), start + timedelta(seconds=599)) is None
    second = store.claim(job.job_id, start + timedelta(seconds=301), start + timedelta(seconds=601), attempts=2)
    assert second is not None and second.attempts == 2
    store.transition(job.job_id, JobState.COMPLETED)
    assert store.claim(job.job_id, start + timedelta(hours=1), start + timedelta(hours=2)) is None  # final stays
