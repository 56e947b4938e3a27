"""The reconciler over fakes: it fails orphans only, through the failure record, and loses a race to a replay."""

from __future__ import annotations

from functions.status.reconcile import ORPHAN_REASON, Reconciler
from shared import keys
from shared.records import FailureRecord, JobRecord
from shared.states import JobState
from tests.unit.fakes import FakeJobTable
from tests.unit.functions.conftest import put_job


def test_fails_only_queued_jobs_never_enqueued_and_older_than_the_limit(settings, table, s3, clock):
    limit = settings.orphan_after_s
    orphan = put_job(table, enqueued=False, age_s=limit + 1)
    young = put_job(table, enqueued=False, age_s=limit - 1)
    waiting = put_job(table, age_s=limit + 1)  # enqueued, just waiting for a worker
    running = put_job(table, status=JobState.RUNNING, enqueued=False, age_s=limit + 1)
    result = Reconciler(settings, table, s3, clock).run()
    assert result == {"checked": 1, "failed": 1}  # jobs waiting normally are filtered out by the index query
    failed = table.jobs[orphan.job_id]
    assert failed.status is JobState.FAILED and failed.error == ORPHAN_REASON and failed.completed_at
    record = FailureRecord.model_validate_json(s3.body(keys.failure_key(orphan.job_id)))
    assert record.code == "enqueue_failed" and record.reason == ORPHAN_REASON
    for untouched in (young, waiting, running):
        assert table.jobs[untouched.job_id] == untouched
    assert list(s3.objects) == [keys.failure_key(orphan.job_id)]


def test_a_second_pass_changes_nothing(settings, table, s3, clock):
    put_job(table, enqueued=False, age_s=settings.orphan_after_s + 1)
    Reconciler(settings, table, s3, clock).run()
    table.calls.clear()
    assert Reconciler(settings, table, s3, clock).run() == {"checked": 0, "failed": 0}
    assert table.writes() == []


def test_the_young_orphan_is_failed_once_it_is_old_enough(settings, table, s3, clock):
    job = put_job(table, enqueued=False, age_s=settings.orphan_after_s - 10)
    assert Reconciler(settings, table, s3, clock).run()["failed"] == 0
    clock.advance(11)
    assert Reconciler(settings, table, s3, clock).run()["failed"] == 1
    assert table.jobs[job.job_id].status is JobState.FAILED


class _ReplayedMeanwhile(FakeJobTable):
    """A replay re-sends the job right after the reconciler read it."""

    def get(self, job_id: str) -> JobRecord | None:
        read = super().get(job_id)
        if read is not None:
            self.jobs[job_id] = read.model_copy(update={"enqueued_at": read.created_at})
        return read


def test_a_job_enqueued_after_it_was_read_is_not_failed(settings, s3, clock):
    table = _ReplayedMeanwhile()
    job = put_job(table, enqueued=False, age_s=settings.orphan_after_s + 1)
    assert Reconciler(settings, table, s3, clock).run() == {"checked": 1, "failed": 0}
    assert table.jobs[job.job_id].status is JobState.QUEUED and s3.objects == {}
