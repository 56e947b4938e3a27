"""The HTTP layer over fakes (in process, no server): status codes, headers and the listing's query parameters."""

from __future__ import annotations

import json
import warnings

import pytest

from functions.api.app import create_app
from functions.api.deps import owner_of
from functions.api.services import Services
from shared.states import JobState
from tests.unit.fakes import client_error
from tests.unit.functions.conftest import LYRICS_REQUEST, make_settings, put_job, resolve

with warnings.catch_warnings():  # Starlette now suggests httpx2; the httpx installed here works as well
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

KEY, OTHER_KEY = "unit-key-a-" + "x" * 12, "unit-key-b-" + "x" * 12


@pytest.fixture
def http(table, s3, sqs, clock) -> TestClient:
    settings = make_settings(api_keys=f"{KEY},{OTHER_KEY}")
    app = create_app(settings, Services.build(settings, table, s3, sqs, clock, resolve))
    return TestClient(app, headers={"X-API-Key": KEY})


def test_submit_replay_conflict_and_rate_limit(http):
    key = {"Idempotency-Key": "k1"}
    first = http.post("/api/v1/generate", json=LYRICS_REQUEST, headers=key)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    assert first.json()["queue_position"] == 0 and first.json()["status_url"].endswith(first.json()["job_id"])
    replay = http.post("/api/v1/generate", json=LYRICS_REQUEST, headers=key)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["job_id"] == first.json()["job_id"]
    conflict = http.post("/api/v1/generate", json={**LYRICS_REQUEST, "batch_size": 2}, headers=key)
    assert conflict.status_code == 409
    for _ in range(2):
        assert http.post("/api/v1/generate", json=LYRICS_REQUEST).status_code == 202
    limited = http.post("/api/v1/generate", json=LYRICS_REQUEST)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "60"


def test_a_failed_send_is_503_and_the_job_is_failed(http, sqs, table):
    sqs.failing = client_error("ServiceUnavailable", "SendMessage")
    response = http.post("/api/v1/generate", json=LYRICS_REQUEST)
    assert response.status_code == 503 and "retry" in response.json()["detail"]
    assert [j.status for j in table.jobs.values()] == [JobState.FAILED]


def test_status_of_an_orphan_is_read_only_and_another_keys_job_is_404(http, table, settings):
    orphan = put_job(table, owner=owner_of(KEY), enqueued=False, age_s=settings.orphan_after_s + 60)
    table.calls.clear()
    for path in (f"/api/v1/status/{orphan.job_id}", f"/api/v1/jobs/{orphan.job_id}"):
        assert http.get(path).json()["status"] == "queued"
    assert table.writes() == [] and table.jobs[orphan.job_id] == orphan
    other = http.get(f"/api/v1/status/{orphan.job_id}", headers={"X-API-Key": OTHER_KEY})
    assert other.status_code == 404


def test_cancel_then_cancel_again(http, table):
    job = put_job(table, owner=owner_of(KEY))
    assert http.delete(f"/api/v1/jobs/{job.job_id}").json()["status"] == "cancelled"
    again = http.delete(f"/api/v1/jobs/{job.job_id}")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_listing_is_cheap_unless_urls_or_positions_are_asked_for(http, table, s3):
    owner = owner_of(KEY)
    put_job(table, owner=owner, status=JobState.COMPLETED, outputs=("wav",), age_s=2)
    put_job(table, owner=owner, age_s=1)
    table.calls.clear()
    plain = http.get("/api/v1/jobs").json()
    assert table.calls == ["list_for_owner"] and s3.presigned == []
    assert [(j["status"], j["s3_url"], j["queue_position"]) for j in plain["jobs"]] == [
        ("queued", None, None), ("completed", None, None)]
    rich = http.get("/api/v1/jobs", params={"include_urls": "true", "include_positions": "true"}).json()
    assert rich["jobs"][0]["queue_position"] == 0 and rich["jobs"][1]["s3_url"].startswith("https://")
    assert http.get("/api/v1/jobs", params={"cursor": "someone-else:2"}).status_code == 422


def test_download_redirects_to_a_presigned_url(http, table):
    job = put_job(table, owner=owner_of(KEY), status=JobState.COMPLETED, outputs=("wav",))
    redirect = http.get(f"/api/v1/download/{job.job_id}", follow_redirects=False)
    assert redirect.status_code == 302 and f"outputs/{job.job_id}/0.wav" in redirect.headers["location"]


def test_queue_and_health_read_the_fakes(http, table, sqs):
    put_job(table, owner=owner_of(KEY), status=JobState.RUNNING)
    put_job(table)
    sqs.in_flight = 1
    queue = http.get("/api/v1/queue").json()
    assert queue["queue_length"] == 1 and queue["in_flight"] == 1 and queue["current_job"] is not None
    health = http.get("/api/v1/health").json()
    assert health["status"] == "healthy" and health["models_loaded"] is False and health["active_jobs"] == 1


@pytest.mark.parametrize("field", ["lyrics", "style_prompt"])
def test_a_lone_surrogate_is_a_422_naming_the_field_not_a_500(http, field):
    body = json.dumps({**LYRICS_REQUEST, field: LYRICS_REQUEST[field] + " \ud800"}, ensure_ascii=True)
    response = http.post("/api/v1/generate", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_a_streamed_body_over_the_limit_is_413_even_without_a_length(table, s3, sqs, clock):
    settings = make_settings(api_keys=KEY, max_body_bytes=1000)
    http = TestClient(create_app(settings, Services.build(settings, table, s3, sqs, clock)), headers={"X-API-Key": KEY})
    chunks = (b'{"lyrics": "' + b"x" * 400 for _ in range(5))  # no Content-Length: chunked
    response = http.post("/api/v1/generate", content=chunks, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "1000 bytes" in response.json()["detail"]
    small = http.post("/api/v1/generate", json=LYRICS_REQUEST)  # the body the app reads is the one sent
    assert small.status_code == 202 and table.jobs
