"""Leases fenced by their claim's token (``lease_owner``): a worker writes a job's lease only while the job is still
that claim's. A worker that fails before or at its claim leaves the holder's lease alone; a worker whose job another
claim took over stops renewing it and drops it untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inference_container.worker.job import JobRunner
from inference_container.worker.loop import Worker
from inference_container.worker.watchdog import Watchdog
from shared import keys
from shared.records import JobRecord
from shared.states import JobState
from tests.support.fakes import client_error
from tests.unit.conftest import BUCKET
from tests.unit.worker.support import job_id_of, outputs_of, queue_job


@pytest.fixture
def another(settings, table, s3, sqs, pipeline, ticks):
    """Builds more workers on the same table, bucket and queue (other tasks of the service)."""
    def build() -> Worker:
        return Worker(settings, JobRunner(pipeline, s3, BUCKET), table, sqs, device="cpu", retry_delay_s=17,
                      watchdog=Watchdog(settings.stall_s, settings.max_run_s, clock=ticks))
    return build


@pytest.fixture
def manifests(s3, monkeypatch) -> list[str]:
    """The keys of every manifest written, repeats included (each write would complete the job again)."""
    written: list[str] = []
    put = s3.put_object

    def recording(*, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict[str, Any]:
        if Key.endswith("result.json"):
            written.append(Key)
        return put(Bucket=Bucket, Key=Key, Body=Body, ContentType=ContentType)

    monkeypatch.setattr(s3, "put_object", recording)
    return written


def _throttled_once(table, monkeypatch, method: str) -> None:
    """The table's next ``method`` call fails as a throttled request would (nothing written)."""
    real = getattr(table, method)

    def once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(table, method, real)
        raise client_error("ProvisionedThroughputExceededException", method)

    monkeypatch.setattr(table, method, once)


def _take_over(table, job_id: str) -> JobRecord:
    """Another worker claims the job after the lease of its holder lapsed (the holder went quiet for a while)."""
    lapsed = table.jobs[job_id].lease_until + timedelta(seconds=1)
    claimed = table.claim(job_id, lapsed, lapsed + timedelta(seconds=300), lease_owner="other-worker/0",
                          attempts=table.jobs[job_id].attempts + 1)
    assert claimed is not None
    return claimed


# -- a worker without the claim leaves the lease alone --------------------------------------------------------------
def test_the_reviewers_scenario_generates_the_job_once(worker, another, table, s3, sqs, pipeline, manifests,
                                                       monkeypatch):
    """W1 generates; a duplicate delivery reaches W2, whose read is throttled; the duplicate comes back to W3."""
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    duplicate = dict(message, ReceiptHandle="receipt-duplicate")
    second, third = another(), another()
    seen = {}

    def meanwhile() -> None:
        holder = table.jobs[job_id]
        _throttled_once(table, monkeypatch, "get")
        seen["second"] = second.handle(duplicate)
        seen["lease kept"] = table.jobs[job_id] == holder  # lease, owner and error as W1 left them
        seen["third"] = third.handle(duplicate)

    pipeline.during_sampling = meanwhile
    assert worker.handle(message) == "completed"
    assert seen == {"second": "retry", "lease kept": True, "third": "leased"}  # W3 claimed and generated it before
    assert manifests == [keys.manifest_key(job_id)] and len(pipeline.batches) == 1
    assert table.jobs[job_id].attempts == 1 and sqs.deleted == [message["ReceiptHandle"]]


@pytest.mark.parametrize("failing", ["get", "claim"])
def test_a_throttled_claim_of_a_duplicate_leaves_the_holders_lease(worker, table, s3, sqs, monkeypatch, failing):
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    now = datetime.now(UTC)
    held = table.claim(job_id, now, now + timedelta(seconds=300), lease_owner="holder/0", attempts=1)
    _throttled_once(table, monkeypatch, failing)
    assert worker.handle(dict(message, ReceiptHandle="receipt-duplicate")) == "retry"
    assert table.jobs[job_id] == held  # before: lease_until = now, i.e. the holder's lease ended by a stranger
    assert sqs.visibility == [("receipt-duplicate", 17)] and sqs.deleted == []


def test_a_claim_that_landed_before_its_error_is_released_by_its_own_token(worker, table, s3, sqs, monkeypatch):
    """The claim's answer was lost after DynamoDB applied it: the retry ends that claim's lease, no other."""
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    claim = table.claim

    def applied_then_lost(*args: Any, **kwargs: Any) -> Any:
        claim(*args, **kwargs)
        raise client_error("InternalServerError", "UpdateItem")

    monkeypatch.setattr(table, "claim", applied_then_lost)
    assert worker.handle(message) == "retry"
    job = table.jobs[job_id]
    assert job.lease_until is not None and job.lease_until <= datetime.now(UTC)  # ended, not left for 300 s
    assert job.error == "a storage or queue service did not answer in time; it will be retried"


def test_a_claim_whose_retried_write_found_its_own_lease_goes_ahead(worker, table, s3, sqs, monkeypatch):
    """The client retried a claim whose first try had landed: the retry's condition fails on the lease that first
    try wrote. The token tells that lease is this claim's own: the job is generated now, not after the lease."""
    message = queue_job(table, s3)
    claim = table.claim

    def landed_then_refused(*args: Any, **kwargs: Any) -> None:
        claim(*args, **kwargs)
        return None

    monkeypatch.setattr(table, "claim", landed_then_refused)
    assert worker.handle(message) == "completed"


def test_each_claim_has_its_own_token_and_the_lease_writes_name_it(worker, table, s3, sqs, pipeline):
    first, second = queue_job(table, s3, lyrics="[00:01.00]one"), queue_job(table, s3, lyrics="[00:01.00]two")
    owners = []
    pipeline.during_sampling = lambda: (owners.extend(table.jobs[job_id_of(m)].lease_owner for m in (first, second)),
                                        worker.leases.beat())
    assert worker.handle_many([first, second]) == ["completed", "completed"]
    assert len(set(owners)) == 2 and all(o.startswith(f"{worker.worker_id}/") for o in owners)
    assert [table.jobs[job_id_of(m)].lease_owner for m in (first, second)] == owners  # renewed, not replaced


# -- a worker whose job was taken over lets go of it ----------------------------------------------------------------
@pytest.mark.parametrize("ending", ["returns", "raises"])
def test_a_worker_whose_lease_was_taken_over_stops_renewing_writes_nothing_and_leaves_the_message(
        worker, table, s3, sqs, pipeline, ending):
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    seen = {}

    def taken_over() -> None:
        seen["holder"] = _take_over(table, job_id)
        calls = len(table.calls)
        worker.leases.beat()  # the renewal finds the other claim: no lease write holds, no visibility change
        worker.leases.beat()  # and the next beat renews nothing of it
        seen["beats"] = table.calls[calls:]
        if ending == "raises":  # then the GPU call fails: not a retry of a job that is not ours
            raise RuntimeError("CUDA error (simulated)")

    pipeline.during_sampling = taken_over
    assert worker.handle(message) == "abandoned"
    assert seen["beats"] == ["set_fields", "get", "heartbeat", "heartbeat"]
    assert table.jobs[job_id] == seen["holder"]  # the new holder's lease, owner and progress, untouched
    assert outputs_of(s3, message) == set() and keys.failure_key(job_id) not in s3.objects
    assert sqs.deleted == [] and sqs.visibility == []  # the message is left alone


def test_a_progress_write_that_finds_another_claim_stops_the_group(worker, table, s3, sqs, pipeline):
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    seen = {}
    pipeline.during_sampling = lambda: seen.setdefault("holder", _take_over(table, job_id))  # the next progress
    assert worker.handle(message) == "abandoned"  # write (no beat in between) finds the other claim
    assert table.jobs[job_id] == seen["holder"]  # its progress (5 %) not overwritten with this worker's 50 %
    assert outputs_of(s3, message) == set() and sqs.deleted == [] and sqs.visibility == []


def test_a_job_the_reconciler_requeued_meanwhile_is_dropped_too(worker, table, s3, sqs, pipeline):
    message = queue_job(table, s3)
    job_id = job_id_of(message)

    def requeued() -> None:  # the lease looked stale to the reconciler: a new message, the job QUEUED again
        table.transition(job_id, JobState.QUEUED, lease_until=None)
        worker.leases.beat()

    pipeline.during_sampling = requeued
    assert worker.handle(message) == "abandoned"
    assert table.jobs[job_id].status is JobState.QUEUED and outputs_of(s3, message) == set()
    assert sqs.deleted == [] and sqs.visibility == []


def test_in_a_shared_group_only_the_job_taken_over_is_dropped(worker, table, s3, sqs, pipeline):
    lost, kept = queue_job(table, s3, lyrics="[00:01.00]lost"), queue_job(table, s3, lyrics="[00:01.00]kept")
    pipeline.during_sampling = lambda: (_take_over(table, job_id_of(lost)), worker.leases.beat())
    assert worker.handle_many([lost, kept]) == ["abandoned", "completed"]
    assert len(pipeline.batches) == 1  # one shared call: the other job's song is still delivered
    assert outputs_of(s3, lost) == set() and "result.json" in outputs_of(s3, kept)
    assert sqs.deleted == [kept["ReceiptHandle"]]
    assert (lost["ReceiptHandle"], 300) not in sqs.visibility  # renewed once at most before it was found out


def test_a_waiting_group_taken_over_is_not_generated(worker, table, s3, sqs, pipeline):
    first, waiting = queue_job(table, s3, lyrics="[00:01.00]first"), queue_job(table, s3, audio_length=120)
    pipeline.during_sampling = lambda: (_take_over(table, job_id_of(waiting)), worker.leases.beat())
    assert worker.handle_many([first, waiting]) == ["completed", "abandoned"]
    assert pipeline.batches == [["[00:01.00]first"]]  # the second group was not sampled
    assert outputs_of(s3, waiting) == set() and sqs.deleted == [first["ReceiptHandle"]]


def test_a_cancel_is_still_a_cancel_not_a_takeover(worker, table, s3, sqs, pipeline):
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    pipeline.during_sampling = lambda: (table.transition(job_id, JobState.CANCELLED), worker.leases.beat())
    assert worker.handle(message) == "cancelled"
    assert sqs.deleted == [message["ReceiptHandle"]]


@pytest.mark.parametrize("ending", ["stop", "crash"])
def test_a_release_that_finds_another_claim_leaves_lease_and_message_alone(worker, table, s3, sqs, pipeline, ending):
    """Hand-back and retry end the lease with the claim's token: when another claim took the job over just before
    (not noticed yet: no beat, no progress write in between), the write changes nothing and tells the worker so."""
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    seen = {}

    def taken_over_then_ended() -> None:
        seen["holder"] = _take_over(table, job_id)
        if ending == "stop":
            worker.stop(grace_s=0)
        else:
            raise RuntimeError("CUDA error (simulated)")

    pipeline.during_sampling = taken_over_then_ended
    assert worker.handle(message) == "abandoned"  # before: handed back or retried
    assert table.jobs[job_id] == seen["holder"]  # before: lease_until = now, the new holder's lease ended
    assert sqs.visibility == [] and sqs.deleted == []


# -- the upload is fenced ----------------------------------------------------------------------------------------------
def _after_generation(pipeline, monkeypatch, then) -> None:
    """``then()`` once the songs exist, before the worker writes them (no progress write comes in between)."""
    generate = pipeline.generate_batch

    def generated(requests, progress):
        songs = generate(requests, progress)
        then()
        return songs

    monkeypatch.setattr(pipeline, "generate_batch", generated)


def test_outputs_are_never_written_for_a_job_taken_over_after_its_last_renewal(worker, table, s3, sqs, pipeline,
                                                                                 manifests, monkeypatch):
    """The holder's renewals failed unnoticed (errors, not conditions) until another worker claimed the job."""
    message = queue_job(table, s3)
    job_id = job_id_of(message)
    holder: dict[str, JobRecord] = {}
    _after_generation(pipeline, monkeypatch, lambda: holder.setdefault("record", _take_over(table, job_id)))
    assert worker.handle(message) == "abandoned"
    assert manifests == [] and outputs_of(s3, message) == set()
    assert table.jobs[job_id].lease_owner == holder["record"].lease_owner == "other-worker/0"
    assert sqs.deleted == [] and sqs.visibility == []


def test_a_fence_that_cannot_be_written_now_retries_the_job_without_outputs(worker, table, s3, sqs, pipeline,
                                                                            manifests, monkeypatch):
    message = queue_job(table, s3)
    _after_generation(pipeline, monkeypatch, lambda: _throttled_once(table, monkeypatch, "set_fields"))
    assert worker.handle(message) == "retry"
    assert manifests == [] and sqs.deleted == []
