"""Cancelling over fakes (409 once final, the webhook marker), and upload grants."""

from __future__ import annotations

from datetime import timedelta

import pytest

from functions.api.errors import ConflictError, FieldError, NotFoundError
from shared import keys
from shared.accounts import Meter
from shared.contract import UploadRequest
from shared.records import CancellationRecord
from shared.states import JobState
from tests.support.fakes import key_caller
from tests.unit.functions.conftest import NOW, OTHER, OWNER, put_job


def test_cancel_a_queued_job_leaves_the_marker_then_a_second_cancel_is_409(services, table, s3):
    job = put_job(table)
    cancelled = services.cancellations.cancel(job.job_id, OWNER)
    assert cancelled.status is JobState.CANCELLED and cancelled.completed_at is not None
    assert CancellationRecord.model_validate_json(s3.body(keys.cancellation_key(job.job_id))).job_id == job.job_id
    with pytest.raises(ConflictError, match="already cancelled"):
        services.cancellations.cancel(job.job_id, OWNER)


def test_cancel_a_running_job_charges_its_gpu_seconds_so_far_to_its_account_once(services, table):
    job = put_job(table, status=JobState.RUNNING, started_at=NOW - timedelta(seconds=90.5), account="acme")
    assert services.cancellations.cancel(job.job_id, OWNER).status is JobState.CANCELLED
    with pytest.raises(ConflictError):
        services.cancellations.cancel(job.job_id, OWNER)
    assert table.usage("acme", [Meter.GPU_SECONDS_PER_DAY], NOW) == {Meter.GPU_SECONDS_PER_DAY: 91}


def test_cancel_a_completed_job_is_409_and_changes_nothing(services, table, s3):
    job = put_job(table, status=JobState.COMPLETED, outputs=("wav",))
    with pytest.raises(ConflictError, match="already completed"):
        services.cancellations.cancel(job.job_id, OWNER)
    assert table.jobs[job.job_id] == job and keys.cancellation_key(job.job_id) not in s3.objects


def test_cancel_another_owners_job_is_404_without_a_write(services, table):
    job = put_job(table, owner=OTHER)
    table.calls.clear()
    with pytest.raises(NotFoundError):
        services.cancellations.cancel(job.job_id, OWNER)
    assert table.writes() == [] and table.jobs[job.job_id].status is JobState.QUEUED


def test_upload_grant_is_an_exact_presigned_put_under_the_callers_prefix(services, s3, settings):
    grant = services.uploads.create(UploadRequest(content_type="audio/wav", size_bytes=1234),
                                    key_caller(OWNER, settings))
    assert grant.key.startswith(keys.input_prefix(OWNER)) and grant.key.endswith(".wav")
    assert grant.headers == {"Content-Type": "audio/wav"} and grant.expires_in == settings.presign_ttl_s
    ((method, params, _),) = s3.presigned
    assert method == "put_object" and params["ContentLength"] == 1234 and params["Key"] == grant.key
    assert grant.upload_url.startswith("https://")


def test_upload_larger_than_the_limit_is_422(services, settings, s3):
    with pytest.raises(FieldError) as error:
        services.uploads.create(UploadRequest(content_type="audio/wav", size_bytes=settings.max_upload_bytes + 1),
                                key_caller(OWNER, settings))
    assert error.value.errors[0]["loc"] == ["body", "size_bytes"] and s3.presigned == []
