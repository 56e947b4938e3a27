"""GPU seconds: the status function adds a job's run time to its account once, by the transition that ended it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.api.errors import RateLimitError
from functions.api.services import Services
from functions.status.handler import StatusRecorder
from shared import keys
from shared.accounts import Meter
from shared.contract import GenerateRequest
from shared.states import JobState
from shared.storage import put_failure
from shared.store import window_start
from tests.support.fakes import FakeClock, FakeQueue, client_error, key_caller
from tests.support.job_table import FakeJobTable
from tests.unit.conftest import WEBHOOK_QUEUE_URL
from tests.unit.functions.conftest import BUCKET, LYRICS_REQUEST, NOW, make_settings, put_job, resolve
from tests.unit.functions.test_status import write_outputs

GPU = Meter.GPU_SECONDS_PER_DAY


@pytest.fixture
def webhooks() -> FakeQueue:
    return FakeQueue(WEBHOOK_QUEUE_URL)


@pytest.fixture
def recorder(table, s3, webhooks, clock) -> StatusRecorder:
    return StatusRecorder(make_settings(webhook_queue_url=WEBHOOK_QUEUE_URL), table, s3, webhooks, clock)


def gpu_used(table: FakeJobTable, account: str, clock: FakeClock) -> int:
    return table.usage(account, [GPU], clock.now)[GPU]


def test_a_completed_job_adds_its_run_time_once_whatever_arrives_after(recorder, table, s3, clock):
    job = put_job(table, status=JobState.RUNNING, account="acme", started_at=NOW - timedelta(seconds=99.2))
    write_outputs(s3, job.job_id)
    assert recorder.apply(keys.manifest_key(job.job_id)) is not None
    assert gpu_used(table, "acme", clock) == 100  # rounded up
    assert recorder.apply(keys.manifest_key(job.job_id)) is None  # S3 delivers the event again
    put_failure(s3, BUCKET, job.job_id, "generation_failed", "late")
    assert recorder.apply(keys.failure_key(job.job_id)) is None  # and a late failure record
    assert gpu_used(table, "acme", clock) == 100 and table.writes().count("add_usage") == 1


def test_a_job_failed_by_its_worker_adds_its_run_time_to_its_account_only(recorder, table, s3, clock):
    job = put_job(table, status=JobState.RUNNING, account="acme", started_at=NOW - timedelta(seconds=40))
    put_failure(s3, BUCKET, job.job_id, "generation_failed", "out of memory")
    assert recorder.apply(keys.failure_key(job.job_id)).status is JobState.FAILED
    assert gpu_used(table, "acme", clock) == 40 and gpu_used(table, job.owner, clock) == 0


def test_jobs_that_never_started_or_have_no_account_add_nothing(recorder, table, s3):
    queued = put_job(table, account="acme")  # failed before any worker took it
    put_failure(s3, BUCKET, queued.job_id, "invalid_input", "refused")
    old = put_job(table, status=JobState.RUNNING, started_at=NOW - timedelta(seconds=40))  # from before accounts
    write_outputs(s3, old.job_id)
    assert recorder.apply(keys.failure_key(queued.job_id)) is not None
    assert recorder.apply(keys.manifest_key(old.job_id)) is not None
    assert "add_usage" not in table.calls and not table.usage_counts


def test_the_seconds_count_in_the_utc_day_the_job_ended(recorder, table, s3, clock):
    clock.now = NOW.replace(hour=0, minute=0, second=30)
    job = put_job(table, status=JobState.RUNNING, account="acme", started_at=clock.now - timedelta(seconds=90))
    write_outputs(s3, job.job_id)
    recorder.apply(keys.manifest_key(job.job_id))
    assert table.usage_counts == {("acme", GPU, window_start(GPU, clock.now)): 90}


def test_a_failed_usage_write_leaves_the_job_completed_and_its_webhook_queued(recorder, table, s3, webhooks,
                                                                              monkeypatch):
    job = put_job(table, status=JobState.RUNNING, account="acme", started_at=NOW - timedelta(seconds=10),
                  webhook_url="https://hooks.example.com/x")

    def throttled(*_: object) -> None:
        raise client_error("ProvisionedThroughputExceededException", "UpdateItem")

    monkeypatch.setattr(table, "add_usage", throttled)
    write_outputs(s3, job.job_id)
    assert recorder.apply(keys.manifest_key(job.job_id)).status is JobState.COMPLETED
    assert len(webhooks.bodies) == 1


def test_the_gpu_seconds_of_finished_jobs_refuse_the_accounts_next_submit(recorder, table, s3, sqs, clock):
    """Submit -> worker runs it -> the status function records it -> the day's GPU budget is spent."""
    settings = make_settings(gpu_seconds_per_day=120)
    services, acme = Services.build(settings, table, s3, sqs, clock, resolve), key_caller("acme", settings)
    job = services.submissions.submit(GenerateRequest.model_validate(LYRICS_REQUEST), acme, None).record
    table.claim(job.job_id, clock.now, clock.now + timedelta(minutes=5), started_at=clock.now)
    clock.advance(120)
    write_outputs(s3, job.job_id)
    recorder.apply(keys.manifest_key(job.job_id))
    with pytest.raises(RateLimitError) as refused:
        services.submissions.submit(GenerateRequest.model_validate(LYRICS_REQUEST), acme, None)
    assert refused.value.headers["X-Quota-Limit"] == "gpu_seconds_per_day"
    assert services.quotas.usage(acme).quotas[2].used == 120
