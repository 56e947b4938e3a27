"""Quotas per account over fakes: each quota's 429 (Retry-After to its window's end, X-Quota-Limit, a detail naming
it), submits charged all or nothing, accounts shared by their end users and by nobody else, the usage report, and
the metrics that carry the account only as metadata."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.api.app import create_app
from functions.api.auth import Authenticator
from functions.api.errors import FieldError, RateLimitError
from functions.api.services import Services
from shared.accounts import ApiKey, Limits, Meter, end_user_owner
from shared.contract import GenerateRequest, UploadRequest
from tests.support.fakes import key_caller
from tests.unit.functions.conftest import LYRICS_REQUEST, NOW, make_settings, resolve

with warnings.catch_warnings():  # Starlette now suggests httpx2; the httpx installed here works as well
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

UNITS, JOBS, GPU, UPLOADS = (Meter.UNITS_PER_HOUR, Meter.JOBS_PER_HOUR, Meter.GPU_SECONDS_PER_DAY,
                             Meter.UPLOADS_PER_DAY)
TO_THE_HOUR, TO_MIDNIGHT = 60, 13 * 3600 + 60  # NOW is 10:59:00 UTC
QUOTAS = {"rate_limit_per_hour": 40, "jobs_per_hour": 2, "gpu_seconds_per_day": 600, "uploads_per_day": 2}
SETTINGS = make_settings(**QUOTAS)
ACME = key_caller("acme", SETTINGS)


def request(**overrides: object) -> GenerateRequest:
    return GenerateRequest.model_validate({**LYRICS_REQUEST, **overrides})


def upload() -> UploadRequest:
    return UploadRequest(content_type="audio/wav", size_bytes=1234)


@pytest.fixture
def services(table, s3, sqs, clock) -> Services:
    return Services.build(SETTINGS, table, s3, sqs, clock, resolve)


def refusal(action: Any, *args: Any) -> RateLimitError:
    with pytest.raises(RateLimitError) as refused:
        action(*args)
    assert refused.value.status == 429
    return refused.value


def test_the_units_quota_refuses_naming_it_until_the_hour_ends(services):
    small = key_caller("acme", SETTINGS, units_per_hour=3, jobs_per_hour=0)
    for _ in range(3):
        services.submissions.submit(request(), small, None)
    refused = refusal(services.submissions.submit, request(), small, None)
    assert refused.headers == {"Retry-After": str(TO_THE_HOUR), "X-Quota-Limit": "units_per_hour"}
    assert refused.detail == ("quota units_per_hour: 3 units per hour (1 unit = one 95 s song at the default steps) "
                              "for this account; this request costs 1 units and does not fit in what is left this "
                              "hour; retry in 60 s")


def test_the_jobs_quota_refuses_naming_it_until_the_hour_ends(services, clock):
    for _ in range(2):
        services.submissions.submit(request(), ACME, None)
    refused = refusal(services.submissions.submit, request(), ACME, None)
    assert refused.headers == {"Retry-After": str(TO_THE_HOUR), "X-Quota-Limit": "jobs_per_hour"}
    assert refused.detail == "quota jobs_per_hour: 2 jobs per hour for this account; all used this hour; retry in 60 s"
    clock.advance(TO_THE_HOUR)  # the next clock hour
    services.submissions.submit(request(), ACME, None)


def test_the_gpu_quota_refuses_submits_once_the_days_seconds_are_used_without_charging_them(services, table, clock):
    table.add_usage("acme", GPU, 599, NOW)
    services.submissions.submit(request(), ACME, None)  # 1 s is left: the job may run over (it is counted when done)
    table.add_usage("acme", GPU, 1, NOW)
    table.calls.clear()
    refused = refusal(services.submissions.submit, request(), ACME, None)
    assert refused.headers == {"Retry-After": str(TO_MIDNIGHT), "X-Quota-Limit": "gpu_seconds_per_day"}
    assert refused.detail == ("quota gpu_seconds_per_day: 600 GPU seconds per day (UTC) for this account; all used "
                              f"today; retry in {TO_MIDNIGHT} s")
    assert "charge" not in table.calls and len(table.jobs) == 1  # refused before charging units or a job
    clock.advance(TO_MIDNIGHT)  # a new UTC day
    services.submissions.submit(request(), ACME, None)


def test_the_uploads_quota_refuses_naming_it_until_the_day_ends(services, s3):
    for _ in range(2):
        services.uploads.create(upload(), ACME)
    refused = refusal(services.uploads.create, upload(), ACME)
    assert refused.headers == {"Retry-After": str(TO_MIDNIGHT), "X-Quota-Limit": "uploads_per_day"}
    assert refused.detail.startswith("quota uploads_per_day: 2 uploads per day (UTC) for this account; all used")
    assert len(s3.presigned) == 2  # no URL for the refused upload


def test_an_upload_too_large_is_422_before_it_is_charged(services, table):
    with pytest.raises(FieldError):
        services.uploads.create(UploadRequest(content_type="audio/wav", size_bytes=SETTINGS.max_upload_bytes + 1),
                                ACME)
    assert "charge" not in table.calls


def test_a_submit_refused_by_the_jobs_quota_spends_no_units_and_one_refused_by_units_counts_no_job(services, table):
    services.submissions.submit(request(), ACME, None)
    services.submissions.submit(request(), ACME, None)
    refusal(services.submissions.submit, request(batch_size=4), ACME, None)  # jobs: 2 of 2
    assert table.usage("acme", [UNITS, JOBS], NOW) == {UNITS: 2, JOBS: 2}  # the 4 units were not spent
    few_units = key_caller("globex", SETTINGS, units_per_hour=3, jobs_per_hour=10)
    services.submissions.submit(request(batch_size=2), few_units, None)
    assert refusal(services.submissions.submit, request(batch_size=2), few_units, None).headers[
        "X-Quota-Limit"] == "units_per_hour"
    assert table.usage("globex", [UNITS, JOBS], NOW) == {UNITS: 2, JOBS: 1}  # the refused job was not counted
    assert len(table.jobs) == 3


def test_end_users_of_one_key_share_its_account_and_other_accounts_do_not(services, table):
    alice = key_caller(end_user_owner("acme", "alice"), SETTINGS, account="acme", kind="end_user")
    bob = key_caller(end_user_owner("acme", "bob"), SETTINGS, account="acme", kind="end_user")
    globex = key_caller("globex", SETTINGS)
    first = services.submissions.submit(request(), alice, "order-1").record
    second = services.submissions.submit(request(), bob, "order-1").record  # idempotency keys stay per owner
    assert first.job_id != second.job_id and (first.owner, second.owner) == (alice.owner, bob.owner)
    assert first.account == second.account == "acme"
    assert refusal(services.submissions.submit, request(), ACME, None).headers["X-Quota-Limit"] == "jobs_per_hour"
    services.submissions.submit(request(), globex, None)  # another account: its own count
    services.submissions.submit(request(), globex, None)
    assert table.usage("acme", [JOBS], NOW) == {JOBS: 2} and table.usage("globex", [JOBS], NOW) == {JOBS: 2}


def test_limits_of_a_key_override_the_defaults_and_zero_is_unlimited(services, table):
    unlimited = key_caller("acme", SETTINGS, jobs_per_hour=0, units_per_hour=0, gpu_seconds_per_day=0)
    table.add_usage("acme", GPU, 10_000, NOW)
    for _ in range(5):
        services.submissions.submit(request(steps=100), unlimited, None)
    assert table.usage("acme", [UNITS, JOBS], NOW) == {UNITS: 20, JOBS: 5}  # unlimited, still counted


def test_usage_reports_each_quota_of_the_callers_account_with_its_window_end(services, table):
    services.submissions.submit(request(batch_size=3), ACME, None)
    services.uploads.create(upload(), ACME)
    table.add_usage("acme", GPU, 125, NOW)
    table.add_usage("globex", GPU, 999, NOW)  # another account's use is not reported
    end_user = key_caller(end_user_owner("acme", "alice"), SETTINGS, account="acme", kind="end_user",
                          uploads_per_day=0)
    report = services.quotas.usage(end_user)
    assert report.model_dump(mode="json") == {"account_kind": "end_user", "quotas": [
        {"name": "units_per_hour", "limit": 40, "used": 3, "remaining": 37, "resets_at": "2030-05-17T11:00:00Z"},
        {"name": "jobs_per_hour", "limit": 2, "used": 1, "remaining": 1, "resets_at": "2030-05-17T11:00:00Z"},
        {"name": "gpu_seconds_per_day", "limit": 600, "used": 125, "remaining": 475,
         "resets_at": "2030-05-18T00:00:00Z"},
        {"name": "uploads_per_day", "limit": 0, "used": 1, "remaining": None, "resets_at": "2030-05-18T00:00:00Z"},
    ]}
    table.add_usage("acme", GPU, 1000, NOW)  # a job may run past the budget: nothing is left, never less
    assert services.quotas.usage(ACME).quotas[2].remaining == 0


def test_a_signed_in_users_webhook_is_422_before_anything_is_charged(services, table):
    user = key_caller("u." + "0" * 32, SETTINGS, kind="user", key_id=None)
    with pytest.raises(FieldError) as refused:
        services.submissions.submit(request(webhook_url="https://hooks.example.com/x"), user, None)
    assert refused.value.errors[0]["loc"] == ["body", "webhook_url"]
    assert refused.value.errors[0]["msg"].startswith("webhooks need an API key (server-to-server)")
    assert table.jobs == {} and "charge" not in table.calls
    job = services.submissions.submit(request(), user, None).record  # without a webhook: accepted
    assert (job.account, job.key_id) == (user.owner, None)


def test_charges_and_refusals_are_metrics_with_the_account_as_metadata_not_a_dimension(services, capsys,
                                                                                      monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the local stack's import turns them off
    services.submissions.submit(request(batch_size=2), ACME, None)
    services.submissions.submit(request(), ACME, None)
    refusal(services.submissions.submit, request(), ACME, None)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    metrics = [(b["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], b["quota"]) for b in blobs]
    assert metrics == [("QuotaCharged", "units_per_hour"), ("QuotaCharged", "jobs_per_hour")] * 2 + [
        ("QuotaRefused", "jobs_per_hour")]
    assert [b["QuotaCharged"] for b in blobs[:2]] == [[2.0], [1.0]]  # the units, then the job
    for blob in blobs:
        assert blob["account"] == "acme" and blob["owner"] == "acme"
        assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "quota"]]


class _Keys:
    """One API key, of the customer "acme", with a jobs quota of 1."""

    TOKEN = "drk_unit-test-token-" + "x" * 20

    def lookup(self, token: str) -> ApiKey | None:
        return ApiKey(key_id="key_00000000000000aa", customer="acme", created_at=NOW,
                      limits=Limits(jobs_per_hour=1)) if token == self.TOKEN else None


def test_over_http_a_refusal_names_its_quota_and_the_usage_endpoint_reports_the_account(table, s3, sqs, clock):
    settings = make_settings(allow_anonymous=False, **QUOTAS)
    app = create_app(settings, Services.build(settings, table, s3, sqs, clock, resolve),
                     Authenticator(settings, _Keys()))
    http = TestClient(app, headers={"X-API-Key": _Keys.TOKEN})
    assert http.post("/api/v1/generate", json=LYRICS_REQUEST).status_code == 202
    refused = http.post("/api/v1/generate", json=LYRICS_REQUEST, headers={"X-End-User": "alice"})
    assert refused.status_code == 429 and refused.headers["x-quota-limit"] == "jobs_per_hour"
    assert refused.headers["retry-after"] == str(TO_THE_HOUR) and "jobs_per_hour" in refused.json()["detail"]
    report = http.get("/api/v1/usage", headers={"X-End-User": "alice"})
    assert report.status_code == 200 and report.json()["account_kind"] == "end_user"
    jobs = next(q for q in report.json()["quotas"] if q["name"] == "jobs_per_hour")
    assert jobs == {"name": "jobs_per_hour", "limit": 1, "used": 1, "remaining": 0,
                    "resets_at": datetime(2030, 5, 17, 11, tzinfo=UTC).isoformat().replace("+00:00", "Z")}
    assert TestClient(app).get("/api/v1/usage").status_code == 401
