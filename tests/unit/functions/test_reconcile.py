"""The reconciler over fakes: orphans, dropped S3 events, dead workers (re-queue or fail), the time limits, and the
races it must lose to a worker or a replay."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from functions.status.handler import StatusRecorder
from functions.status.reconcile import (
    QUEUED_TOO_LONG_REASON,
    RAN_TOO_LONG_REASON,
    Reconciler,
)
from shared import keys
from shared.records import ActiveJob, FailureRecord, JobMessage, JobRecord, ManifestOutput, OutputManifest, WebhookEvent
from shared.settings import Settings
from shared.states import JobState
from shared.storage import put_failure, put_json
from tests.support.fakes import FakeClock, FakeObjectStore, FakeQueue, client_error
from tests.support.job_table import FakeJobTable
from tests.unit.conftest import BUCKET, WEBHOOK_QUEUE_URL
from tests.unit.functions.conftest import NOW, make_settings, put_job


@pytest.fixture
def settings() -> Settings:
    return make_settings(webhook_queue_url=WEBHOOK_QUEUE_URL, stale_after_s=900, max_attempts=3, max_run_s=1800,
                         max_queued_s=172800)


@pytest.fixture
def webhooks() -> FakeQueue:
    return FakeQueue(WEBHOOK_QUEUE_URL)


def reconciler(settings: Settings, table: FakeJobTable, s3: FakeObjectStore, sqs: FakeQueue, clock: FakeClock,
               webhooks: FakeQueue | None = None) -> Reconciler:
    recorder = StatusRecorder(settings, table, s3, webhooks or FakeQueue(WEBHOOK_QUEUE_URL))
    return Reconciler(settings, table, s3, sqs, recorder, clock)


def counts(result: dict[str, int]) -> dict[str, int]:
    """The actions a pass took (zero counts left out)."""
    return {action: n for action, n in result.items() if n and action != "checked"}


def running(table: FakeJobTable, *, lease_ended_s: float, attempts: int = 1, started_s: float | None = None,
            **fields: object) -> JobRecord:
    """A RUNNING job whose lease ended ``lease_ended_s`` before NOW (negative: still held), started ``started_s``
    before NOW (default: when its lease was taken, 15 minutes before it ended)."""
    lease = NOW - timedelta(seconds=lease_ended_s)
    started = NOW - timedelta(seconds=started_s) if started_s is not None else lease - timedelta(minutes=15)
    return put_job(table, status=JobState.RUNNING, age_s=(NOW - started).total_seconds() + 5, lease_until=lease,
                   started_at=started, attempts=attempts, progress_stage="sampling", progress_percent=40.0,
                   **fields)


def write_manifest(s3: FakeObjectStore, job_id: str) -> None:
    key = keys.output_key(job_id, 0, "wav")
    s3.objects[key] = (b"RIFF....", "audio/wav")
    put_json(s3, BUCKET, keys.manifest_key(job_id), OutputManifest(job_id=job_id, duration_s=95.0, outputs=[
        ManifestOutput(index=0, format="wav", key=key, duration_s=95.0, sample_rate=44100, channels=2)]))


def failure(s3: FakeObjectStore, job_id: str) -> FailureRecord:
    return FailureRecord.model_validate_json(s3.body(keys.failure_key(job_id)))


# -- orphans: queued jobs whose message may never have been sent -----------------------------------------------------
def test_only_queued_jobs_never_enqueued_and_older_than_the_limit_are_sent_again(settings, table, s3, sqs, clock):
    limit = settings.orphan_after_s
    orphan = put_job(table, enqueued=False, age_s=limit + 1)
    young = put_job(table, enqueued=False, age_s=limit - 1)
    waiting = put_job(table, age_s=limit + 1)  # enqueued, just waiting for a worker
    busy = running(table, lease_ended_s=-60, enqueued=False)
    result = reconciler(settings, table, s3, sqs, clock).run()
    assert result["checked"] == 1 and counts(result) == {"resent": 1}
    sent = table.jobs[orphan.job_id]
    assert sent.status is JobState.QUEUED and sent.enqueued_at == NOW and sent.error is None
    [body] = sqs.bodies
    message = JobMessage.model_validate_json(body)
    assert (message.job_id, message.request_key, message.enqueued_at) == (orphan.job_id, orphan.request_key, NOW)
    for untouched in (young, waiting, busy):
        assert table.jobs[untouched.job_id] == untouched
    assert s3.objects == {}  # no failure record: the job will run
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {}  # and it is sent once
    assert len(sqs.bodies) == 1


def test_the_young_orphan_is_sent_once_it_is_old_enough(settings, table, s3, sqs, clock):
    job = put_job(table, enqueued=False, age_s=settings.orphan_after_s - 10)
    assert reconciler(settings, table, s3, sqs, clock).run()["resent"] == 0
    clock.advance(11)
    assert reconciler(settings, table, s3, sqs, clock).run()["resent"] == 1
    assert table.jobs[job.job_id].enqueued_at is not None and len(sqs.bodies) == 1


class _ReplayedMeanwhile(FakeJobTable):
    """A replay re-sends the job right after the reconciler read it."""

    def get(self, job_id: str) -> JobRecord | None:
        read = super().get(job_id)
        if read is not None:
            self.jobs[job_id] = read.model_copy(update={"enqueued_at": read.created_at})
        return read


def test_a_job_enqueued_after_it_was_read_keeps_the_replays_enqueued_at(settings, s3, sqs, clock):
    """The replay's message and the reconciler's both exist then: harmless, a claim is exclusive."""
    table = _ReplayedMeanwhile()
    job = put_job(table, enqueued=False, age_s=settings.orphan_after_s + 1)
    reconciler(settings, table, s3, sqs, clock).run()
    kept = table.jobs[job.job_id]
    assert kept.status is JobState.QUEUED and kept.enqueued_at == job.created_at and s3.objects == {}


# -- running jobs whose worker stopped ------------------------------------------------------------------------------
def test_a_dropped_manifest_event_completes_the_job_without_running_it_again(settings, table, s3, sqs, clock,
                                                                               webhooks):
    job = running(table, lease_ended_s=901, webhook_url="https://example.com/hook")
    write_manifest(s3, job.job_id)
    result = reconciler(settings, table, s3, sqs, clock, webhooks).run()
    assert counts(result) == {"applied": 1}
    done = table.jobs[job.job_id]
    assert done.status is JobState.COMPLETED and [o.key for o in done.outputs] == [keys.output_key(job.job_id, 0,
                                                                                                    "wav")]
    assert sqs.bodies == []  # not generated again
    assert [WebhookEvent.model_validate_json(b).event for b in webhooks.bodies] == ["job.completed"]


def test_a_dropped_failure_event_fails_the_job_with_the_records_code(settings, table, s3, sqs, clock):
    job = running(table, lease_ended_s=2000, attempts=3)
    put_failure(s3, BUCKET, job.job_id, "invalid_input", "the lyrics could not be sung")
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"applied": 1}
    failed = table.jobs[job.job_id]
    assert (failed.status, failed.error_code, failed.error) == (JobState.FAILED, "invalid_input",
                                                                "the lyrics could not be sung")
    assert sqs.bodies == []


def test_a_stale_job_with_attempts_left_is_requeued_and_reads_queued(settings, table, s3, sqs, clock, services):
    job = running(table, lease_ended_s=901, attempts=2)
    result = reconciler(settings, table, s3, sqs, clock).run()
    assert counts(result) == {"requeued": 1}
    requeued = table.jobs[job.job_id]
    assert requeued.status is JobState.QUEUED and requeued.enqueued_at == NOW and requeued.lease_until is None
    assert requeued.started_at is None and requeued.progress_stage is None and requeued.attempts == 2
    (body,) = sqs.bodies
    message = JobMessage.model_validate_json(body)
    assert (message.job_id, message.request_key, message.enqueued_at) == (job.job_id, job.request_key, NOW)
    view = services.reads.view(requeued)
    assert view.status == "queued" and view.queue_position == 0 and view.error_code is None
    # the worker's claim of a re-queued job works as for a new one
    claimed = table.claim(job.job_id, NOW, NOW + timedelta(minutes=15), started_at=NOW, attempts=3)
    assert claimed is not None and claimed.status is JobState.RUNNING
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {}  # a second pass changes nothing


def test_a_stale_job_out_of_attempts_is_failed_dead_letter(settings, table, s3, sqs, clock):
    job = running(table, lease_ended_s=901, attempts=3)
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"dead_lettered": 1, "failed": 1}
    failed = table.jobs[job.job_id]
    assert failed.status is JobState.FAILED and failed.error_code == "dead_letter" and "3 times" in (failed.error or "")
    assert failure(s3, job.job_id).code == "dead_letter" and sqs.bodies == []


@pytest.mark.parametrize("lease_ended_s", [-30, 0, 899])
def test_a_job_whose_lease_holds_or_ended_recently_is_left_alone(settings, table, s3, sqs, clock, lease_ended_s):
    job = running(table, lease_ended_s=lease_ended_s)
    result = reconciler(settings, table, s3, sqs, clock).run()
    assert counts(result) == {} and table.jobs[job.job_id] == job and sqs.bodies == [] and s3.objects == {}


def test_a_job_handed_back_without_a_lease_is_left_to_its_message(settings, table, s3, sqs, clock):
    job = running(table, lease_ended_s=5000)
    table.jobs[job.job_id] = job = job.model_copy(update={"lease_until": None})  # the worker released it
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {}
    assert table.jobs[job.job_id] == job


def test_a_job_running_past_the_total_time_limit_fails_timed_out_once_no_worker_holds_it(settings, table, s3, sqs,
                                                                                          clock):
    limit = settings.max_attempts * settings.max_run_s + settings.stale_after_s
    over = running(table, lease_ended_s=-120, started_s=limit + 1)
    under = running(table, lease_ended_s=-120, started_s=limit - 200)
    # a worker still holds it (its own max_run_s and watchdog bound that): left alone
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"unchanged": 1}
    clock.advance(121)  # the lease has ended
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"timed_out": 1, "failed": 1}
    failed = table.jobs[over.job_id]
    assert failed.status is JobState.FAILED and failed.error_code == "timed_out" and failed.error == RAN_TOO_LONG_REASON
    assert failure(s3, over.job_id).code == "timed_out"
    assert table.jobs[under.job_id] == under


def test_a_job_queued_longer_than_the_limit_fails_timed_out(settings, table, s3, sqs, clock):
    old = put_job(table, age_s=settings.max_queued_s + 1)
    recent = put_job(table, age_s=settings.max_queued_s - 1)
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"timed_out": 1, "failed": 1}
    failed = table.jobs[old.job_id]
    assert (failed.status, failed.error_code, failed.error) == (JobState.FAILED, "timed_out", QUEUED_TOO_LONG_REASON)
    assert table.jobs[recent.job_id] == recent


def test_in_sagemaker_mode_a_job_queued_past_the_resend_limit_is_sent_again_once(table, s3, sqs, clock):
    """The dispatcher deleted its message when the endpoint took it; the endpoint dropped it before claiming it."""
    settings = make_settings(resend_queued_after_s=7200)
    waiting = put_job(table, age_s=7201)
    young = put_job(table, age_s=7199)
    too_old = put_job(table, age_s=settings.max_queued_s + 1)
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"resent": 1, "timed_out": 1, "failed": 1}
    sent = table.jobs[waiting.job_id]
    assert sent.status is JobState.QUEUED and sent.enqueued_at == NOW
    assert [JobMessage.model_validate_json(b).job_id for b in sqs.bodies] == [waiting.job_id]
    assert table.jobs[young.job_id] == young and table.jobs[too_old.job_id].error_code == "timed_out"
    # its new enqueued_at is recent; the failed job's webhook step is the reconciler's (no status event over fakes)
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"notified": 1}


def test_in_sagemaker_mode_a_job_never_claimed_is_failed_once_it_waited_max_queued_s_in_all(table, s3, sqs, clock):
    """Re-sends do not restart the clock: every 5-minute pass for longer than max_queued_s ends it."""
    settings = make_settings(resend_queued_after_s=7200)
    job = put_job(table, age_s=7201)
    resent = 0
    for _ in range(settings.max_queued_s // 300 + 2):
        resent += reconciler(settings, table, s3, sqs, clock).run()["resent"]
        clock.advance(300)
    failed = table.jobs[job.job_id]
    assert failed.status is JobState.FAILED and failed.error_code == "timed_out"
    assert resent == len(sqs.bodies) == (settings.max_queued_s - 7201) // 7200 + 1  # one every 2 hours until then


def test_by_default_a_queued_job_is_never_sent_again(settings, table, s3, sqs, clock):
    """With ECS the message waits in SQS: a second one would only duplicate it."""
    job = put_job(table, age_s=settings.max_queued_s - 1)
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {} and sqs.bodies == []
    assert table.jobs[job.job_id] == job


class _ClaimedAfterTheQuery(FakeJobTable):
    """A worker claims every candidate right after the reconciler's index query found it (a redelivered message)."""

    def _claimed(self, found: list[ActiveJob]) -> list[ActiveJob]:
        for active in found:
            self.claim(active.job_id, NOW, NOW + timedelta(minutes=15), attempts=active.attempts + 1)
        return found

    def running_stale(self, lease_ended_before: datetime, started_before: datetime) -> list[ActiveJob]:
        return self._claimed(super().running_stale(lease_ended_before, started_before))

    def queued_since_before(self, cutoff: datetime) -> list[ActiveJob]:
        return self._claimed(super().queued_since_before(cutoff))


@pytest.mark.parametrize("attempts", [1, 3])  # would be re-queued / failed dead_letter
def test_a_worker_that_claims_the_stale_job_meanwhile_wins(settings, s3, sqs, clock, attempts):
    table = _ClaimedAfterTheQuery()
    job = running(table, lease_ended_s=901, attempts=attempts)
    reconciler(settings, table, s3, sqs, clock).run()
    current = table.jobs[job.job_id]
    assert current.status is JobState.RUNNING and current.lease_until == NOW + timedelta(minutes=15)
    assert current.attempts == attempts + 1 and s3.objects == {}
    assert sqs.bodies == []  # no second message either


class _ClaimedAfterTheRead(FakeJobTable):
    """A worker claims the job right after the reconciler read it, before the re-queue's transition."""

    def get(self, job_id: str) -> JobRecord | None:
        read = super().get(job_id)
        if read is not None and not read.status.is_final:
            self.claim(job_id, NOW, NOW + timedelta(minutes=15), attempts=read.attempts + 1)
        return read


def test_a_worker_that_claims_before_the_requeue_transition_keeps_the_job(settings, s3, sqs, clock):
    table = _ClaimedAfterTheRead()
    job = running(table, lease_ended_s=901, attempts=1)
    reconciler(settings, table, s3, sqs, clock).run()
    current = table.jobs[job.job_id]  # the lease condition kept the worker's claim: not moved back to QUEUED
    assert current.status is JobState.RUNNING and current.lease_until == NOW + timedelta(minutes=15)
    assert len(sqs.bodies) == 1  # the spare message finds the job leased, then final, and is dropped by the worker


def test_a_job_claimed_meanwhile_is_not_failed_for_waiting_too_long(settings, s3, sqs, clock):
    table = _ClaimedAfterTheQuery()
    job = put_job(table, age_s=settings.max_queued_s + 1)
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"unchanged": 1}
    assert table.jobs[job.job_id].status is JobState.RUNNING and s3.objects == {}


def test_a_failed_send_changes_nothing_and_the_next_pass_requeues(settings, table, s3, sqs, clock):
    job = running(table, lease_ended_s=901)
    sqs.failing = client_error("ServiceUnavailable", "SendMessage")
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"errors": 1}
    assert table.jobs[job.job_id] == job
    sqs.failing = None
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"requeued": 1}
    assert table.jobs[job.job_id].status is JobState.QUEUED


def test_a_throttled_bucket_skips_the_job_and_the_others_are_still_settled(settings, table, s3, sqs, clock,
                                                                           monkeypatch):
    first, second = running(table, lease_ended_s=901), running(table, lease_ended_s=902)
    head = s3.head_object

    def throttled(*, Bucket: str, Key: str) -> dict:
        if first.job_id in Key:
            raise client_error("SlowDown", "HeadObject")
        return head(Bucket=Bucket, Key=Key)

    monkeypatch.setattr(s3, "head_object", throttled)
    assert counts(reconciler(settings, table, s3, sqs, clock).run()) == {"errors": 1, "requeued": 1}
    assert table.jobs[first.job_id] == first and table.jobs[second.job_id].status is JobState.QUEUED


def test_a_pass_reports_each_action(settings, table, s3, sqs, clock):
    put_job(table, enqueued=False, age_s=settings.orphan_after_s + 1)
    write_manifest(s3, running(table, lease_ended_s=1000).job_id)
    running(table, lease_ended_s=1000, attempts=1)
    running(table, lease_ended_s=1000, attempts=3)
    running(table, lease_ended_s=1, started_s=settings.max_attempts * settings.max_run_s + settings.stale_after_s + 9)
    put_job(table, age_s=settings.max_queued_s + 9)
    result = reconciler(settings, table, s3, sqs, clock).run()
    assert result == {"checked": 6, "resent": 1, "applied": 1, "requeued": 1, "dead_lettered": 1, "timed_out": 2,
                      "unchanged": 0, "errors": 0, "notified": 0, "failed": 3}
    assert all(j.status.is_final or j.status is JobState.QUEUED for j in table.jobs.values())


def test_the_worker_keeps_attempts_and_sets_started_at_when_it_claims_a_requeued_job(settings, table, s3, sqs, clock):
    """What ``inference_container.worker.claim`` passes to ``claim`` (``started_at=job.started_at or now``,
    ``attempts=job.attempts + 1``) after a re-queue: the attempt count goes on, the run limit starts afresh."""
    job = running(table, lease_ended_s=901, attempts=2)
    reconciler(settings, table, s3, sqs, clock).run()
    requeued = table.jobs[job.job_id]
    later = NOW + timedelta(hours=5)
    claimed = table.claim(job.job_id, later, later + timedelta(minutes=15),
                          started_at=requeued.started_at or later, attempts=requeued.attempts + 1)
    assert claimed is not None and claimed.attempts == 3 and claimed.started_at == later
