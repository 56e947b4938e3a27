"""``shared.store.JobStore`` against DynamoDB (moto) at fixed times: quota windows and transactions, the reconciler's
query and its conditional transition."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.accounts import Meter
from shared.records import JobRecord
from shared.states import JobState
from shared.store import JobStore, deserialize, serialize, usage_pk

END_OF_HOUR = datetime(2031, 3, 4, 13, 0, tzinfo=UTC)
UNITS, JOBS, GPU, UPLOADS = (Meter.UNITS_PER_HOUR, Meter.JOBS_PER_HOUR, Meter.GPU_SECONDS_PER_DAY,
                             Meter.UPLOADS_PER_DAY)


def _job(owner: str, created: datetime, enqueued: bool) -> JobRecord:
    return JobRecord(job_id=str(uuid.uuid4()), owner=owner, created_at=created, updated_at=created,
                     enqueued_at=created if enqueued else None, expires_at=JobRecord.ttl(created, 30),
                     request_key="requests/x.json", request_sha256="0", audio_length=95, batch_size=1,
                     output_format="wav", seed=1)


def test_a_charges_window_is_its_meters_clock_hour_or_utc_day(settings, aws):
    store = JobStore(aws("dynamodb"), settings.table_name)
    account = f"rate-{uuid.uuid4().hex[:8]}"
    assert store.charge(account, [(UNITS, 1, 2)], END_OF_HOUR - timedelta(minutes=59)) is None
    assert store.charge(account, [(UNITS, 1, 2)], END_OF_HOUR - timedelta(seconds=90)) is None
    assert store.charge(account, [(UNITS, 1, 2)], END_OF_HOUR - timedelta(seconds=90)) == (UNITS, 90)  # to the hour
    assert store.charge(account, [(UNITS, 1, 2)], END_OF_HOUR) is None  # a new window
    assert store.charge(f"{account}-other", [(UNITS, 1, 2)], END_OF_HOUR - timedelta(seconds=90)) is None
    assert store.charge(account, [(UPLOADS, 1, 1)], END_OF_HOUR - timedelta(hours=13)) is None  # 00:00 UTC
    assert store.charge(account, [(UPLOADS, 1, 1)], END_OF_HOUR) == (UPLOADS, 11 * 3600)  # the same UTC day


def test_a_charge_is_one_transaction_refused_whole_naming_the_meter_that_did_not_fit(settings, aws):
    store = JobStore(aws("dynamodb"), settings.table_name)
    account, at = f"cost-{uuid.uuid4().hex[:8]}", END_OF_HOUR - timedelta(minutes=30)
    assert store.charge(account, [(UNITS, 7, 10), (JOBS, 1, 2)], at) is None
    assert store.charge(account, [(UNITS, 4, 10), (JOBS, 1, 2)], at) == (UNITS, 1800)  # 3 units left
    assert store.usage(account, [UNITS, JOBS], at) == {UNITS: 7, JOBS: 1}  # so no job was counted either
    assert store.charge(account, [(UNITS, 3, 10), (JOBS, 1, 2)], at) is None  # the 3 left still fit
    # units unlimited (0) are still counted, and not when the jobs quota (the second item) refuses the charge
    assert store.charge(account, [(UNITS, 5, 0), (JOBS, 1, 2)], at) == (JOBS, 1800)
    assert store.usage(account, [UNITS, JOBS], at) == {UNITS: 10, JOBS: 2}
    assert store.charge(account, [(UNITS, 5, 0), (JOBS, 1, 0)], at) is None
    assert store.usage(account, [UNITS, JOBS], at) == {UNITS: 15, JOBS: 3}


def test_usage_added_unconditionally_is_read_for_the_current_window_and_expires_a_window_later(settings, aws):
    store = JobStore(aws("dynamodb"), settings.table_name)
    account, at = f"gpu-{uuid.uuid4().hex[:8]}", END_OF_HOUR - timedelta(minutes=30)
    store.add_usage(account, GPU, 120, at)
    store.add_usage(account, GPU, 30, at)
    assert store.usage(account, list(Meter), at) == {UNITS: 0, JOBS: 0, GPU: 150, UPLOADS: 0}
    assert store.usage(account, [GPU], at + timedelta(days=1)) == {GPU: 0}  # the next UTC day
    day = int(datetime(2031, 3, 4, tzinfo=UTC).timestamp())
    item = aws("dynamodb").get_item(TableName=settings.table_name, Key=serialize({"pk": usage_pk(account, GPU, day)}))
    assert deserialize(item["Item"])["expires_at"] == day + 2 * 86400


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


def test_the_active_index_finds_stale_running_and_long_queued_jobs(stack, settings, aws):
    """The reconciler's queries read the index projection: RUNNING jobs by lease end or start, QUEUED jobs by
    ``enqueued_at``; a claim moves a job to the RUNNING partition, a re-queue back, a final state out of it."""
    store = JobStore(aws("dynamodb"), settings.table_name)
    owner = f"active-{uuid.uuid4().hex[:8]}"
    base = datetime(2002, 1, 1, tzinfo=UTC)  # before every other job of the session
    with stack.dispatcher.reconciler_paused():  # these are stale on purpose: leave them to this test
        dead, held, old_start, waiting = (_job(owner, base + timedelta(minutes=i), True) for i in range(4))
        for job in (dead, held, old_start, waiting):
            assert store.create(job)
        store.claim(dead.job_id, base, base + timedelta(minutes=20), started_at=base, attempts=2)
        store.claim(held.job_id, base, datetime(2100, 1, 1, tzinfo=UTC), started_at=base + timedelta(hours=5))
        store.claim(old_start.job_id, base, datetime(2100, 1, 1, tzinfo=UTC), started_at=base)
        cutoff, started_before = base + timedelta(hours=1), base + timedelta(hours=2)

        def mine(found: list) -> dict:
            return {a.job_id: a for a in found if a.job_id in {dead.job_id, held.job_id, old_start.job_id,
                                                                 waiting.job_id}}

        stale = mine(store.running_stale(cutoff, started_before))
        assert set(stale) == {dead.job_id, old_start.job_id}  # held: lease and start both recent enough
        assert stale[dead.job_id].attempts == 2 and stale[dead.job_id].lease_until == base + timedelta(minutes=20)
        assert stale[old_start.job_id].started_at == base
        assert set(mine(store.queued_since_before(base + timedelta(hours=1)))) == {waiting.job_id}
        assert mine(store.queued_since_before(base + timedelta(minutes=3))) == {}  # enqueued at base + 3 min
        assert store.queue_position(waiting) == 0  # the running jobs created before it are not queued

        # the re-queue holds only while the lease is ended: not for the held job, yes for the dead one
        assert store.transition(held.job_id, JobState.QUEUED, lease_ended_before=cutoff) is None
        requeued = store.transition(dead.job_id, JobState.QUEUED, lease_ended_before=cutoff, lease_until=None,
                                    enqueued_at=cutoff)
        assert requeued is not None and requeued.status is JobState.QUEUED and requeued.attempts == 2
        assert dead.job_id not in mine(store.running_stale(cutoff, started_before))
        assert set(mine(store.queued_since_before(cutoff + timedelta(seconds=1)))) == {dead.job_id, waiting.job_id}
        for job in (dead, held, old_start, waiting):
            store.transition(job.job_id, JobState.CANCELLED)
        assert mine(store.running_stale(datetime(2100, 1, 2, tzinfo=UTC), datetime(2100, 1, 2, tzinfo=UTC))) == {}
        assert mine(store.queued_since_before(datetime(2100, 1, 2, tzinfo=UTC))) == {}


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


def test_lease_writes_hold_only_for_the_claim_that_holds_the_lease(settings, aws):
    """A worker's renewal or release names its claim's token: once another claim took the job over (the first
    lease lapsed), the first worker's writes change nothing; a claim without a token removes the last one."""
    store = JobStore(aws("dynamodb"), settings.table_name)
    start = datetime(2030, 2, 1, 12, tzinfo=UTC)
    job = _job(f"owner-{uuid.uuid4().hex[:8]}", start, True)
    assert store.create(job)
    first = store.claim(job.job_id, start, start + timedelta(seconds=300), lease_owner="w-1/0", attempts=1)
    assert first is not None and first.lease_owner == "w-1/0"
    renewed = start + timedelta(seconds=600)
    assert store.set_fields(job.job_id, only_if=JobState.RUNNING, only_if_lease_owner="w-1/0", lease_until=renewed)
    assert not store.set_fields(job.job_id, only_if_lease_owner="w-2/0", lease_until=start)  # not its claim
    assert store.get(job.job_id).lease_until == renewed

    later = renewed + timedelta(seconds=1)  # w-1 went quiet: its lease lapsed and w-2 took the job
    second = store.claim(job.job_id, later, later + timedelta(seconds=300), lease_owner="w-2/0", attempts=2)
    assert second is not None and second.lease_owner == "w-2/0"
    assert not store.set_fields(job.job_id, only_if=JobState.RUNNING, only_if_lease_owner="w-1/0",
                                lease_until=later + timedelta(seconds=900))  # w-1's renewal
    assert not store.set_fields(job.job_id, only_if=JobState.RUNNING, only_if_lease_owner="w-1/0",
                                lease_until=later)  # w-1's release
    assert store.get(job.job_id).lease_until == later + timedelta(seconds=300)  # w-2's, untouched

    store.set_fields(job.job_id, only_if_lease_owner="w-2/0", lease_until=later)  # w-2 hands it back
    third = store.claim(job.job_id, later + timedelta(seconds=1), later + timedelta(seconds=301))
    assert third is not None and third.lease_owner is None  # a claim never inherits a token
    assert not store.set_fields(job.job_id, only_if_lease_owner="w-2/0", lease_until=later)  # no token: no match
    store.transition(job.job_id, JobState.CANCELLED)
