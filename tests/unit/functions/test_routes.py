"""The HTTP layer over fakes (in process, no server): status codes, headers, the listing's query parameters and who the
caller is (API keys, end users under a key, signed-in users)."""

from __future__ import annotations

import json
import warnings

import pytest

from functions.api.app import create_app
from functions.api.auth import Authenticator
from functions.api.services import Services
from functions.api.tokens import TokenVerifier
from shared.accounts import end_user_owner, user_owner
from shared.states import JobState
from tests.support.fakes import client_error
from tests.unit.functions.conftest import LYRICS_REQUEST, FakeKeys, api_key, make_settings, put_job, resolve
from tests.unit.functions.issuer import CLIENT_ID, ISSUER, FakeIssuer

with warnings.catch_warnings():  # Starlette now suggests httpx2; the httpx installed here works as well
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

KEY, OTHER_KEY = "unit-key-a-" + "x" * 12, "unit-key-b-" + "x" * 12
CUSTOMER = "customer-a"  # the owner KEY's callers are


@pytest.fixture
def issuer() -> FakeIssuer:
    return FakeIssuer()


def make_app(table, s3, sqs, clock, issuer=None, **overrides):
    """The app over the fakes, with KEY and OTHER_KEY (two customers) and, given ``issuer``, its users' JWTs."""
    settings = make_settings(allow_anonymous=False, **overrides)
    tokens = TokenVerifier(ISSUER, [CLIENT_ID], fetch=issuer.fetch) if issuer else None
    keys = FakeKeys({KEY: api_key(CUSTOMER), OTHER_KEY: api_key("customer-b")})
    return create_app(settings, Services.build(settings, table, s3, sqs, clock, resolve),
                      Authenticator(settings, keys, tokens))


@pytest.fixture
def http(table, s3, sqs, clock, issuer) -> TestClient:
    return TestClient(make_app(table, s3, sqs, clock, issuer), headers={"X-API-Key": KEY})


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
    orphan = put_job(table, owner=CUSTOMER, enqueued=False, age_s=settings.orphan_after_s + 60)
    table.calls.clear()
    for path in (f"/api/v1/status/{orphan.job_id}", f"/api/v1/jobs/{orphan.job_id}"):
        assert http.get(path).json()["status"] == "queued"
    assert table.writes() == [] and table.jobs[orphan.job_id] == orphan
    other = http.get(f"/api/v1/status/{orphan.job_id}", headers={"X-API-Key": OTHER_KEY})
    assert other.status_code == 404


def test_cancel_then_cancel_again(http, table):
    job = put_job(table, owner=CUSTOMER)
    assert http.delete(f"/api/v1/jobs/{job.job_id}").json()["status"] == "cancelled"
    again = http.delete(f"/api/v1/jobs/{job.job_id}")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_listing_is_cheap_unless_urls_or_positions_are_asked_for(http, table, s3):
    owner = CUSTOMER
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
    job = put_job(table, owner=CUSTOMER, status=JobState.COMPLETED, outputs=("wav",))
    redirect = http.get(f"/api/v1/download/{job.job_id}", follow_redirects=False)
    assert redirect.status_code == 302 and f"outputs/{job.job_id}/0.wav" in redirect.headers["location"]


def test_queue_and_health_read_the_fakes(http, table, sqs):
    put_job(table, owner=CUSTOMER, status=JobState.RUNNING)
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
    http = TestClient(make_app(table, s3, sqs, clock, max_body_bytes=1000), headers={"X-API-Key": KEY})
    chunks = (b'{"lyrics": "' + b"x" * 400 for _ in range(5))  # no Content-Length: chunked
    response = http.post("/api/v1/generate", content=chunks, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "1000 bytes" in response.json()["detail"]
    small = http.post("/api/v1/generate", json=LYRICS_REQUEST)  # the body the app reads is the one sent
    assert small.status_code == 202 and table.jobs


def test_without_credentials_every_caller_route_is_401_with_a_challenge(http):
    anonymous = {"X-API-Key": ""}  # the client's default header, blanked
    for method, path in [("GET", "/api/v1/jobs"), ("GET", "/api/v1/queue"), ("GET", "/api/v1/metrics"),
                         ("POST", "/api/v1/generate"), ("POST", "/api/v1/uploads"), ("GET", "/api/v1/usage")]:
        response = http.request(method, path, headers=anonymous)
        assert response.status_code == 401, (path, response.text)
        assert response.json() == {"detail": "missing credentials: send X-API-Key or Authorization: Bearer <token>"}
        assert response.headers["www-authenticate"] == "ApiKey, Bearer"
    assert http.get("/api/v1/health", headers=anonymous).status_code == 200  # the service's own state is public
    unknown = http.get("/api/v1/jobs", headers={"X-API-Key": "unit-key-unknown-" + "x" * 10})
    assert unknown.status_code == 401 and unknown.headers["www-authenticate"] == "ApiKey"


def test_a_key_and_a_token_together_or_an_end_user_without_a_key_is_400(http, issuer):
    both = http.get("/api/v1/jobs", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert both.status_code == 400 and "not both" in both.json()["detail"]
    token_and_end_user = http.get("/api/v1/jobs", headers={"X-API-Key": "", "X-End-User": "alice",
                                                           "Authorization": f"Bearer {issuer.token()}"})
    assert token_and_end_user.status_code == 400 and "X-End-User needs an API key" in token_and_end_user.text


def test_end_users_under_one_key_see_only_their_own_jobs(http, table):
    alice, bob = {"X-End-User": "alice@example.com"}, {"X-End-User": "bob@example.com"}
    submitted = http.post("/api/v1/generate", json=LYRICS_REQUEST, headers=alice)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    assert table.jobs[job_id].owner == end_user_owner(CUSTOMER, "alice@example.com")
    assert http.get(f"/api/v1/status/{job_id}", headers=alice).status_code == 200
    for other in (bob, {}):  # another end user, and the key itself without X-End-User, are other owners
        assert http.get(f"/api/v1/status/{job_id}", headers=other).status_code == 404
        assert http.delete(f"/api/v1/jobs/{job_id}", headers=other).status_code == 404
        assert http.get("/api/v1/jobs", headers=other).json()["jobs"] == []
    assert [j["job_id"] for j in http.get("/api/v1/jobs", headers=alice).json()["jobs"]] == [job_id]
    assert http.get("/api/v1/status/x", headers={"X-End-User": "x" * 129}).status_code == 400


def test_a_signed_in_user_submits_and_reads_their_own_jobs_with_a_bearer_token(http, table, issuer):
    user = {"X-API-Key": "", "Authorization": f"Bearer {issuer.token(sub='user-7')}"}
    submitted = http.post("/api/v1/generate", json=LYRICS_REQUEST, headers=user)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    assert table.jobs[job_id].owner == user_owner(ISSUER, "user-7")
    assert http.get(f"/api/v1/jobs/{job_id}", headers=user).json()["status"] == "queued"
    someone_else = {"X-API-Key": "", "Authorization": f"Bearer {issuer.token(sub='user-8')}"}
    assert http.get(f"/api/v1/jobs/{job_id}", headers=someone_else).status_code == 404
    assert http.get(f"/api/v1/jobs/{job_id}").status_code == 404  # the key's customer is someone else too
    expired = {"X-API-Key": "", "Authorization": f"Bearer {issuer.token(sub='user-7', exp=1)}"}
    refused = http.get(f"/api/v1/jobs/{job_id}", headers=expired)
    assert refused.status_code == 401 and refused.json() == {"detail": "invalid bearer token: token expired"}
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_the_openapi_document_shows_both_ways_to_authenticate(http):
    document = http.get("/openapi.json").json()
    assert document["components"]["securitySchemes"] == {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                   "description": "A customer's API key (server to server, or a frontend that ships one)"},
        "BearerJWT": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                      "description": "A signed-in user's token from the service's user pool (or OIDC issuer)"}}
    generate = document["paths"]["/api/v1/generate"]["post"]
    assert {"ApiKey": []} in generate["security"] and {"BearerJWT": []} in generate["security"]
    assert "X-End-User" in [p["name"] for p in generate["parameters"]]
    assert "security" not in document["paths"]["/api/v1/health"]["get"]


def test_a_browser_may_send_a_bearer_token_and_an_end_user(table, s3, sqs, clock):
    app = make_app(table, s3, sqs, clock, cors_origins="https://app.example.com")
    preflight = TestClient(app).options("/api/v1/generate", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, x-end-user, content-type, x-api-key"})
    assert preflight.status_code == 200
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "x-end-user", "content-type", "x-api-key"} <= {h.strip() for h in allowed.split(",")}


def test_the_app_refuses_to_start_without_a_way_to_authenticate(settings, services, monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    with pytest.raises(RuntimeError, match="no way to authenticate"):
        create_app(make_settings(allow_anonymous=False), services)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "diffrhythm-api")
    with pytest.raises(RuntimeError, match="ALLOW_ANONYMOUS"):
        create_app(make_settings(allow_anonymous=True), services)


NEW_FIELDS = ("instrumental", "bpm", "title", "negative_style_prompt", "style_weight", "best_of", "stems", "extend",
              "edit")


def test_the_openapi_document_gives_every_song_feature_field_an_example(http):
    document = http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]

    def examples(schema: dict) -> list:
        """The property's own examples, else those of the model it refers to (directly or in anyOf)."""
        found = list(schema.get("examples", []))
        for ref in [schema.get("$ref"), *(option.get("$ref") for option in schema.get("anyOf", []))]:
            if ref:
                found += schemas[ref.rsplit("/", 1)[1]].get("examples", [])
        return found

    properties = schemas["GenerateRequest"]["properties"]
    missing = [name for name in NEW_FIELDS if not examples(properties[name])]
    assert not missing, missing
    assert "job_id" in examples(properties["edit"])[0] and "from_s" in examples(properties["extend"])[0]
    kinds = schemas["OutputKind"]["enum"]
    assert set(kinds) == {"song", "vocals", "accompaniment", "peaks", "lyrics"}


def test_the_root_and_health_answers_name_the_models_licences(http):
    for path in ("/", "/api/v1/health"):
        body = http.get(path).json()
        licences = {entry["component"]: entry for entry in body["licences"]}
        mulan = next(entry for name, entry in licences.items() if name.startswith("MuQ-MuLan"))
        assert mulan["licence"] == "CC-BY-NC-4.0" and mulan["non_commercial"] is True
        assert body["non_commercial"] is True and any(e["licence"] == "Apache-2.0" for e in body["licences"])
