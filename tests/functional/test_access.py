"""API keys, ownership, rate limits, CORS, security headers and size limits."""

from __future__ import annotations

from tests.conftest import ORIGIN, SEED_REQUEST, Api


def test_missing_or_unknown_key_is_401(stack):
    for key in (None, "not-a-key"):
        response = Api(stack.api_url, key).post("/api/v1/generate", json=SEED_REQUEST)
        assert response.status_code == 401
        assert "X-API-Key" in response.json()["detail"]


def test_public_endpoints_need_no_key(stack):
    anonymous = Api(stack.api_url, None)
    assert anonymous.get("/").json()["status"] == "running"
    health = anonymous.get("/api/v1/health").json()
    assert health["status"] == "healthy" and isinstance(health["models_loaded"], bool)
    assert anonymous.get("/docs").status_code == 200
    assert "/api/v1/generate" in anonymous.get("/openapi.json").json()["paths"]


def test_another_keys_job_is_404_everywhere(api, other_api):
    job_id = api.submit()["job_id"]
    for method, path in [("GET", f"/api/v1/status/{job_id}"), ("GET", f"/api/v1/download/{job_id}"),
                         ("DELETE", f"/api/v1/jobs/{job_id}"), ("GET", f"/api/v1/jobs/{job_id}")]:
        response = other_api.request(method, path)
        assert response.status_code == 404 and job_id in response.json()["detail"]
    assert api.status(job_id)["status"] == "queued"


def test_unknown_and_malformed_job_ids_are_404(api):
    assert api.get("/api/v1/status/00000000-0000-4000-8000-000000000000").status_code == 404
    assert api.get("/api/v1/status/..%2F..%2Fetc").status_code == 404


def test_rate_limit_answers_429_with_retry_after(settings, aws, api_key):
    """The API's own app over the local AWS resources, its clock fixed 30 s before an hour ends: the window is the
    clock hour of the submission, whatever the hour is now."""
    import warnings
    from datetime import UTC, datetime

    from functions.api.app import create_app
    from functions.api.services import Services
    from shared.store import JobStore

    with warnings.catch_warnings():  # Starlette now suggests httpx2; the httpx installed here works as well
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    fixed = datetime(2031, 3, 4, 12, 59, 30, tzinfo=UTC)
    store = JobStore(aws("dynamodb"), settings.table_name)
    app = create_app(settings, Services.build(settings, store, aws("s3"), aws("sqs"), clock=lambda: fixed))
    client = TestClient(app, headers={"X-API-Key": api_key})
    for _ in range(10):
        assert client.post("/api/v1/generate", json=SEED_REQUEST).status_code == 202
    response = client.post("/api/v1/generate", json=SEED_REQUEST)
    assert response.status_code == 429 and response.headers["retry-after"] == "30"
    assert "10 units per hour" in response.json()["detail"]


def test_cors_preflight_and_error_responses_carry_the_origin(stack, api):
    preflight = api.request("OPTIONS", "/api/v1/generate", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-api-key"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()

    unauthorized = Api(stack.api_url, None).post("/api/v1/generate", json=SEED_REQUEST, headers={"Origin": ORIGIN})
    assert unauthorized.status_code == 401 and unauthorized.headers["access-control-allow-origin"] == ORIGIN
    redirect_source = api.get("/api/v1/status/00000000-0000-4000-8000-000000000000", headers={"Origin": ORIGIN})
    assert redirect_source.headers["access-control-allow-origin"] == ORIGIN

    foreign = api.request("OPTIONS", "/api/v1/generate", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in foreign.headers


def test_download_redirect_carries_cors_headers(api, aws, settings):
    from tests.conftest import wait_for
    from tests.worker_sim import write_outputs

    job_id = api.submit()["job_id"]
    write_outputs(aws("s3"), settings.bucket_name, job_id)
    wait_for(lambda: api.status(job_id)["status"] == "completed")
    redirect = api.get(f"/api/v1/download/{job_id}", headers={"Origin": ORIGIN})
    assert redirect.status_code == 302 and redirect.headers["access-control-allow-origin"] == ORIGIN


def test_security_headers_on_every_response(api):
    for response in (api.get("/api/v1/health"), api.get("/api/v1/status/nope"), api.post("/api/v1/generate")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "default-src 'none'" in response.headers["content-security-policy"]


def test_oversized_body_is_413(api, settings):
    response = api.post("/api/v1/generate", data=b"x" * (settings.max_body_bytes + 1),
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and str(settings.max_body_bytes) in response.json()["detail"]


def test_unknown_path_is_404_and_wrong_method_405(api):
    assert api.get("/api/v1/nothing-here").status_code == 404
    assert api.request("PUT", "/api/v1/generate").status_code == 405


def test_presigned_download_passes_the_browsers_cors_checks(api, aws, settings):
    """Chromium follows the 302 with Origin: null and forwards X-API-Key: the bucket's CORS rule must allow that."""
    import requests

    from tests.conftest import wait_for
    from tests.worker_sim import write_outputs

    job_id = api.submit()["job_id"]
    write_outputs(aws("s3"), settings.bucket_name, job_id)
    wait_for(lambda: api.status(job_id)["status"] == "completed")
    url = api.get(f"/api/v1/download/{job_id}", headers={"Origin": ORIGIN}).headers["location"]
    preflight = requests.options(url, timeout=10, headers={
        "Origin": "null", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-api-key"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in {"*", "null"}
    download = requests.get(url, timeout=10, headers={"Origin": "null", "X-API-Key": "forwarded-by-the-browser"})
    assert download.status_code == 200 and download.headers["access-control-allow-origin"] in {"*", "null"}
    assert download.headers["content-type"] == "audio/wav"


def test_health_reports_models_loaded_from_a_recent_worker_heartbeat(stack, aws, settings):
    from datetime import timedelta

    from shared.records import utcnow
    from shared.store import JobStore

    store = JobStore(aws("dynamodb"), settings.table_name)
    anonymous = Api(stack.api_url, None)
    store.heartbeat("cuda (test)", now=utcnow() - timedelta(minutes=10))
    stale = anonymous.get("/api/v1/health").json()
    assert stale["models_loaded"] is False and "start on demand" in stale["device"]
    store.heartbeat("cuda (test)")
    fresh = anonymous.get("/api/v1/health").json()
    assert fresh["models_loaded"] is True and fresh["device"] == "cuda (test)"
