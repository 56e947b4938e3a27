"""The job table's contract (``shared.ports.JobTable``), written once and run against each implementation: the
in-memory ``FakeJobTable`` the unit tests use, and ``shared.store.JobStore`` on DynamoDB (a moto server of its own, a
fresh table per test, marked ``stack`` like the functional tests so the fast tier runs the fake side only). Where the
two disagree the fake is wrong: moto stands for DynamoDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.accounts import Meter
from shared.ports import JobTable
from shared.records import JobRecord, OutputFile
from shared.states import JobState
from shared.store import CursorError, JobStore
from tests.support.job_table import FakeJobTable

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)
UNITS, JOBS, GPU, UPLOADS = (Meter.UNITS_PER_HOUR, Meter.JOBS_PER_HOUR, Meter.GPU_SECONDS_PER_DAY,
                             Meter.UPLOADS_PER_DAY)
FINAL = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


@pytest.fixture(scope="module")
def moto_dynamodb() -> Iterator[Any]:
    """A DynamoDB client of a moto server of this module's own (imported late: the fast tier never starts one)."""
    from tests.support.moto import aws_client, moto_server

    with moto_server() as endpoint:
        yield aws_client("dynamodb", endpoint)


@pytest.fixture(params=["fake", pytest.param("moto", marks=pytest.mark.stack)])
def store(request: pytest.FixtureRequest) -> JobTable:
    """Each implementation of the job table, empty."""
    if request.param == "fake":
        return FakeJobTable()
    from tests.support.moto import create_job_table

    dynamodb = request.getfixturevalue("moto_dynamodb")
    return JobStore(dynamodb, create_job_table(dynamodb))


def job(owner: str = "acme", created: datetime = T0, **fields: Any) -> JobRecord:
    """A new queued job (a fresh id unless ``job_id`` is given)."""
    return JobRecord.model_validate({
        "job_id": uuid.uuid4().hex, "owner": owner, "created_at": created, "updated_at": created,
        "expires_at": JobRecord.ttl(created, 30), "request_key": "requests/x.json", "request_sha256": "0",
        "audio_length": 95, "batch_size": 1, "output_format": "wav", "seed": 1, **fields})


def created(store: JobTable, *jobs: JobRecord) -> list[JobRecord]:
    for one in jobs:
        assert store.create(one)
    return list(jobs)


# -- job items ---------------------------------------------------------------------------------------------------
def test_a_created_job_reads_back_as_it_was_and_a_second_create_of_its_id_changes_nothing(store):
    first = job(account="acme-co", progress_percent=12.5, webhook_url="https://example.com/hook",
                outputs=[OutputFile(index=0, format="wav", key="outputs/x/0.wav", size_bytes=10, score=0.25)])
    assert store.create(first) is True
    assert store.get(first.job_id) == first
    assert store.create(job(owner="other", job_id=first.job_id)) is False
    assert store.get(first.job_id) == first
    assert store.get("missing") is None


def test_a_transition_holds_only_from_the_states_the_transition_table_allows(store):
    [queued] = created(store, job())
    assert store.transition(queued.job_id, JobState.QUEUED) is None  # only a running job is re-queued
    running = store.transition(queued.job_id, JobState.RUNNING, started_at=T0, progress_stage="sampling")
    assert running is not None and running.status is JobState.RUNNING and running.started_at == T0
    done = store.transition(queued.job_id, JobState.COMPLETED, completed_at=T0, progress_stage=None, duration_s=9.5)
    assert done is not None and done.status is JobState.COMPLETED and done.progress_stage is None
    assert done.duration_s == 9.5 and store.get(queued.job_id) == done
    for target in JobState:  # final stays final
        assert store.transition(queued.job_id, target) is None
    assert store.get(queued.job_id) == done
    assert store.transition("missing", JobState.FAILED) is None


def test_a_transition_can_require_an_attribute_to_be_unset(store):
    sent, orphan = created(store, job(enqueued_at=T0), job())
    assert store.transition(sent.job_id, JobState.FAILED, only_if_absent="enqueued_at") is None
    assert store.get(sent.job_id).status is JobState.QUEUED
    failed = store.transition(orphan.job_id, JobState.FAILED, only_if_absent="enqueued_at", error="orphan")
    assert failed is not None and failed.status is JobState.FAILED and failed.error == "orphan"


def test_a_requeue_holds_only_once_the_lease_ended(store):
    held, lapsed, unleased = created(store, job(), job(), job())
    store.claim(held.job_id, T0, T0 + timedelta(minutes=10))
    store.claim(lapsed.job_id, T0, T0 + timedelta(minutes=1))
    store.transition(unleased.job_id, JobState.RUNNING)
    cutoff = T0 + timedelta(minutes=5)
    assert store.transition(held.job_id, JobState.QUEUED, lease_ended_before=cutoff) is None
    at_the_cutoff = store.transition(held.job_id, JobState.QUEUED, lease_ended_before=T0 + timedelta(minutes=10))
    assert at_the_cutoff is None  # a lease ending at the cutoff still holds
    requeued = store.transition(lapsed.job_id, JobState.QUEUED, lease_ended_before=cutoff, lease_until=None)
    assert requeued is not None and requeued.status is JobState.QUEUED and requeued.lease_until is None
    assert store.transition(unleased.job_id, JobState.QUEUED, lease_ended_before=cutoff) is not None


def test_a_claim_holds_until_its_lease_ends_and_never_after_a_final_state(store):
    [queued] = created(store, job())
    first = store.claim(queued.job_id, T0, T0 + timedelta(minutes=5), lease_owner="w-1/0", attempts=1, started_at=T0)
    assert first is not None and first.status is JobState.RUNNING and first.lease_owner == "w-1/0"
    assert (first.lease_until, first.updated_at, first.attempts) == (T0 + timedelta(minutes=5), T0, 1)
    assert store.get(queued.job_id) == first
    assert store.claim(queued.job_id, T0 + timedelta(minutes=4), T0 + timedelta(minutes=9)) is None
    assert store.claim(queued.job_id, T0 + timedelta(minutes=5), T0 + timedelta(minutes=9)) is None  # not yet ended
    later = T0 + timedelta(minutes=6)
    second = store.claim(queued.job_id, later, later + timedelta(minutes=5), attempts=2)
    assert second is not None and second.attempts == 2 and second.updated_at == later
    assert second.lease_owner is None  # a claim never inherits the last one's token
    store.transition(queued.job_id, JobState.CANCELLED)
    assert store.claim(queued.job_id, T0 + timedelta(hours=1), T0 + timedelta(hours=2)) is None
    assert store.claim("missing", T0, T0 + timedelta(minutes=5)) is None


def test_a_running_job_without_a_lease_can_be_claimed(store):
    [one] = created(store, job())
    store.transition(one.job_id, JobState.RUNNING)
    assert store.claim(one.job_id, T0, T0 + timedelta(minutes=5)) is not None


def test_set_fields_holds_only_while_its_conditions_do_and_leaves_the_state_and_updated_at(store):
    [one] = created(store, job())
    assert store.set_fields(one.job_id, enqueued_at=T0, progress_percent=50.0) is True
    after = store.get(one.job_id)
    assert (after.enqueued_at, after.progress_percent, after.updated_at, after.status) == (T0, 50.0, T0,
                                                                                             JobState.QUEUED)
    assert store.set_fields(one.job_id, only_if=JobState.RUNNING, progress_stage="sampling") is False
    assert store.set_fields(one.job_id, only_if=JobState.QUEUED, progress_stage="waiting") is True
    assert store.set_fields(one.job_id, only_if_absent="enqueued_at", enqueued_at=T0 + timedelta(hours=1)) is False
    assert store.set_fields(one.job_id, only_if_absent="webhook_queued_at", webhook_queued_at=T0) is True
    assert store.set_fields(one.job_id, progress_percent=None, progress_stage="done") is True  # None removes
    after = store.get(one.job_id)
    assert (after.enqueued_at, after.progress_stage, after.progress_percent) == (T0, "done", None)
    assert store.set_fields("missing", progress_stage="x") is False


@pytest.mark.parametrize("update", [{}, {"only_if": JobState.QUEUED}, {"progress_percent": None},
                                    {"only_if_absent": "error", "error": None}],
                         ids=["nothing", "nothing but a condition", "only removals", "only removals, a name compared"])
def test_an_update_that_sets_nothing_or_names_no_value_is_refused_as_dynamodb_refuses_it(store, update):
    [one] = created(store, job(progress_percent=50.0))
    with pytest.raises(ClientError, match="ValidationException"):
        store.set_fields(one.job_id, **update)
    assert store.get(one.job_id) == one
    assert store.set_fields(one.job_id, only_if=JobState.QUEUED, progress_percent=None) is True  # a value compared


def test_lease_writes_hold_only_for_the_claim_that_holds_the_lease(store):
    [one] = created(store, job())
    assert not store.set_fields(one.job_id, only_if_lease_owner="w-1/0", lease_until=T0)  # no token yet
    store.claim(one.job_id, T0, T0 + timedelta(minutes=5), lease_owner="w-1/0")
    renewed = T0 + timedelta(minutes=10)
    assert store.set_fields(one.job_id, only_if=JobState.RUNNING, only_if_lease_owner="w-1/0", lease_until=renewed)
    assert not store.set_fields(one.job_id, only_if_lease_owner="w-2/0", lease_until=T0)
    later = renewed + timedelta(seconds=1)
    store.claim(one.job_id, later, later + timedelta(minutes=5), lease_owner="w-2/0")
    assert not store.set_fields(one.job_id, only_if=JobState.RUNNING, only_if_lease_owner="w-1/0", lease_until=later)
    assert store.get(one.job_id).lease_until == later + timedelta(minutes=5)


def test_notified_takes_only_final_jobs_out_of_the_notify_partition(store):
    queued, done, old, undated = created(store, *(job(created=T0 + timedelta(minutes=i)) for i in range(4)))
    assert store.notified(queued.job_id) is False and store.notified("missing") is False
    store.transition(done.job_id, JobState.COMPLETED, completed_at=T0 + timedelta(hours=2))
    store.transition(old.job_id, JobState.FAILED, completed_at=T0 + timedelta(hours=1))
    store.transition(undated.job_id, JobState.CANCELLED)
    assert store.notify_pending(T0 + timedelta(hours=3)) == [done.job_id, old.job_id, undated.job_id]  # oldest first
    assert store.notify_pending(T0 + timedelta(hours=1, seconds=1)) == [old.job_id, undated.job_id]
    assert store.notify_pending(T0 + timedelta(hours=1)) == [undated.job_id]  # no completed_at: always
    assert store.notified(old.job_id) is True and store.notified(old.job_id) is True  # a repeat changes nothing
    assert store.notify_pending(T0 + timedelta(hours=3)) == [done.job_id, undated.job_id]
    assert store.get(old.job_id).status is JobState.FAILED


def test_a_callers_jobs_are_listed_newest_first_a_page_at_a_time(store):
    mine = created(store, *(job(owner="acme", created=T0 + timedelta(minutes=i)) for i in range(5)))
    created(store, job(owner="other", created=T0 + timedelta(minutes=10)))
    pages, cursor = [], None
    for _ in range(5):
        page, cursor = store.list_for_owner("acme", 2, cursor)
        pages.append([j.job_id for j in page])
        if cursor is None:
            break
    assert pages == [[mine[4].job_id, mine[3].job_id], [mine[2].job_id, mine[1].job_id], [mine[0].job_id]]
    assert store.list_for_owner("nobody", 2) == ([], None)
    whole, rest = store.list_for_owner("acme", 10)
    assert [j.job_id for j in whole] == [j.job_id for j in reversed(mine)] and rest is None


def test_a_cursor_is_only_good_for_the_caller_it_was_issued_to(store):
    created(store, *(job(owner="acme", created=T0 + timedelta(minutes=i)) for i in range(3)))
    _, cursor = store.list_for_owner("acme", 1)
    assert cursor is not None
    with pytest.raises(CursorError):
        store.list_for_owner("other", 1, cursor)
    with pytest.raises(CursorError):
        store.list_for_owner("acme", 1, "not-a-cursor")


# -- the active-job index ----------------------------------------------------------------------------------------
def test_queue_positions_count_only_queued_jobs_created_before(store):
    first, running, second, third = created(store, *(job(created=T0 + timedelta(minutes=i)) for i in range(4)))
    store.claim(running.job_id, T0, T0 + timedelta(minutes=5))
    store.transition(second.job_id, JobState.CANCELLED)
    assert store.queued_count() == 2
    assert [store.queue_position(j) for j in (first, third)] == [0, 1]


def test_unqueued_before_lists_old_queued_jobs_never_sent_oldest_first(store):
    older, orphan, _sent, running, young = created(
        store, job(created=T0 - timedelta(minutes=5)), job(created=T0),
        job(created=T0 + timedelta(minutes=1), enqueued_at=T0 + timedelta(minutes=1)),
        job(created=T0 + timedelta(minutes=2)), job(created=T0 + timedelta(minutes=30)))
    store.transition(running.job_id, JobState.RUNNING)
    assert store.unqueued_before(T0 + timedelta(minutes=10)) == [older.job_id, orphan.job_id]
    assert store.unqueued_before(T0) == [older.job_id]
    assert store.unqueued_before(T0 + timedelta(hours=1)) == [older.job_id, orphan.job_id, young.job_id]


def test_queued_since_before_lists_jobs_sent_before_the_cutoff_from_the_index(store):
    early, late, unsent = created(store, job(created=T0, enqueued_at=T0, attempts=2),
                                  job(created=T0 + timedelta(minutes=1), enqueued_at=T0 + timedelta(minutes=20)),
                                  job(created=T0 + timedelta(minutes=2)))
    found = store.queued_since_before(T0 + timedelta(minutes=10))
    assert [a.job_id for a in found] == [early.job_id]
    assert (found[0].state, found[0].created_at, found[0].enqueued_at, found[0].attempts) == (
        JobState.QUEUED, T0, T0, 2)
    assert [a.job_id for a in store.queued_since_before(T0 + timedelta(hours=1))] == [early.job_id, late.job_id]
    assert unsent.job_id not in [a.job_id for a in store.queued_since_before(T0 + timedelta(hours=1))]


def test_running_stale_lists_running_jobs_whose_lease_ended_or_that_started_long_ago(store):
    dead, held, old_start, queued = created(store, *(job(created=T0 + timedelta(minutes=i)) for i in range(4)))
    far = T0 + timedelta(days=1)
    store.claim(dead.job_id, T0, T0 + timedelta(minutes=20), started_at=T0, attempts=2)
    store.claim(held.job_id, T0, far, started_at=T0 + timedelta(hours=5))
    store.claim(old_start.job_id, T0, far, started_at=T0)
    stale = store.running_stale(T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    assert [a.job_id for a in stale] == [dead.job_id, old_start.job_id]
    assert (stale[0].state, stale[0].lease_until, stale[0].started_at, stale[0].attempts) == (
        JobState.RUNNING, T0 + timedelta(minutes=20), T0, 2)
    store.transition(dead.job_id, JobState.QUEUED, lease_ended_before=T0 + timedelta(hours=1), lease_until=None)
    store.transition(old_start.job_id, JobState.FAILED)
    assert store.running_stale(T0 + timedelta(hours=1), T0 + timedelta(hours=2)) == []
    assert queued.job_id not in [a.job_id for a in store.running_stale(far, far)]


# -- usage -------------------------------------------------------------------------------------------------------
def test_a_charge_is_all_or_nothing_and_names_the_first_meter_that_did_not_fit(store):
    at = T0 + timedelta(minutes=30)
    assert store.charge("acme", [(UNITS, 7, 10), (JOBS, 1, 2)], at) is None
    assert store.charge("acme", [(UNITS, 4, 10), (JOBS, 1, 2)], at) == (UNITS, 1800)
    assert store.usage("acme", [UNITS, JOBS], at) == {UNITS: 7, JOBS: 1}
    assert store.charge("acme", [(UNITS, 3, 10), (JOBS, 1, 2)], at) is None  # exactly the limit fits
    assert store.charge("acme", [(UNITS, 5, 20), (JOBS, 1, 2)], at) == (JOBS, 1800)
    assert store.charge("acme", [(UNITS, 1, 10), (JOBS, 1, 2)], at) == (UNITS, 1800)  # both full: the first
    assert store.charge("acme", [(UNITS, 5, 0), (JOBS, 1, 0)], at) is None  # 0 = unlimited, still counted
    assert store.usage("acme", [UNITS, JOBS], at) == {UNITS: 15, JOBS: 3}
    assert store.charge("acme", [], at) is None


def test_a_charges_window_is_its_meters_clock_hour_or_utc_day(store):
    end_of_hour = datetime(2031, 3, 4, 13, 0, tzinfo=UTC)
    assert store.charge("acme", [(UNITS, 1, 1)], end_of_hour - timedelta(seconds=90)) is None
    assert store.charge("acme", [(UNITS, 1, 1)], end_of_hour - timedelta(seconds=90)) == (UNITS, 90)
    assert store.charge("acme", [(UNITS, 1, 1)], end_of_hour) is None  # a new window
    assert store.charge("other", [(UNITS, 1, 1)], end_of_hour) is None  # another account's count
    assert store.charge("acme", [(UPLOADS, 1, 1)], end_of_hour - timedelta(hours=13)) is None  # 00:00 UTC
    assert store.charge("acme", [(UPLOADS, 1, 1)], end_of_hour) == (UPLOADS, 11 * 3600)


@pytest.mark.parametrize("charges", [[(UNITS, 41, 40)], [(UNITS, -1, 40)], [(UNITS, 1, 40), (UNITS, 1, 40)]],
                         ids=["never fits", "negative", "a meter twice"])
def test_charges_that_could_never_be_written_are_a_value_error_and_count_nothing(store, charges):
    with pytest.raises(ValueError):
        store.charge("acme", charges, T0)
    assert store.usage("acme", [UNITS], T0) == {UNITS: 0}


def test_usage_added_unconditionally_is_read_per_window(store):
    store.add_usage("acme", GPU, 120, T0)
    store.add_usage("acme", GPU, 30, T0 + timedelta(hours=5))
    assert store.usage("acme", list(Meter), T0) == {UNITS: 0, JOBS: 0, GPU: 150, UPLOADS: 0}
    assert store.usage("acme", [GPU], T0 + timedelta(days=1)) == {GPU: 0}
    assert store.usage("acme", [], T0) == {}


# -- the fleet ---------------------------------------------------------------------------------------------------
def test_counters_count_created_jobs_and_final_states_reached_once(store):
    assert store.counters() == {"queued": 0, "running": 0, "completed": 0, "failed": 0, "cancelled": 0}
    one, two, three = created(store, job(), job(), job())
    assert not store.create(one)  # not created: not counted
    store.claim(one.job_id, T0, T0 + timedelta(minutes=1))
    store.transition(one.job_id, JobState.QUEUED, lease_ended_before=T0 + timedelta(minutes=2))  # a re-queue
    store.transition(one.job_id, JobState.COMPLETED)
    store.transition(one.job_id, JobState.FAILED)  # refused: not counted
    store.transition(two.job_id, JobState.CANCELLED)
    store.transition(three.job_id, JobState.RUNNING)
    assert store.counters() == {"queued": 3, "running": 0, "completed": 1, "failed": 0, "cancelled": 1}


def test_the_last_heartbeat_is_the_latest_reported(store):
    assert store.last_heartbeat() is None
    store.heartbeat("cuda:0 NVIDIA H100", T0)
    assert store.last_heartbeat() == (T0, "cuda:0 NVIDIA H100")
    later = T0 + timedelta(seconds=30, microseconds=5)
    store.heartbeat("cpu", later)
    assert store.last_heartbeat() == (later, "cpu")
    before = datetime.now(UTC)
    store.heartbeat("cpu")  # now
    seen, device = store.last_heartbeat()
    assert device == "cpu" and before <= seen <= datetime.now(UTC)
