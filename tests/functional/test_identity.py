"""Every caller its own owner, over HTTP on the local stack: API keys (made with ``diffrhythm keys``), users signed in
with the moto server's Cognito (real RS256 JWTs checked against its JWKS), and end users acting under a key.

The JWT cases forge tokens with the moto server's own signing key where a claim must be wrong but the signature right,
so each case fails on the one check it names.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from infrastructure.cli import main as cli
from shared.records import utcnow
from shared.store import JobStore
from shared.webhooks import SIGNATURE_HEADER, SignatureError, verify
from tests.conftest import SEED_REQUEST, Api, wait_for
from tests.worker_sim import wav_bytes, write_outputs

PASSWORD = "Correct-Horse-Battery-9"
_users = itertools.count()


def bearer(stack: Any, token: str) -> Api:
    """A client that sends ``Authorization: Bearer <token>``."""
    client = Api(stack.api_url, None)
    client.session.headers["Authorization"] = f"Bearer {token}"
    return client


def signed_in(stack: Any) -> Api:
    """A client of a new user of the local user pool, signed in."""
    return bearer(stack, stack.sign_up(f"user{next(_users)}-{time.monotonic_ns()}@example.com", PASSWORD))


def end_user(stack: Any, api_key: str, name: str) -> Api:
    """A client acting for ``name`` under ``api_key`` (a frontend's own backend separating its users)."""
    client = Api(stack.api_url, api_key)
    client.session.headers["X-End-User"] = name
    return client


def keys_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    """``diffrhythm keys ARGV`` against the local stack (its environment names the table and the secret)."""
    assert cli(["keys", *argv]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


@pytest.fixture(params=["key", "user", "end_user"])
def two_owners(request: pytest.FixtureRequest, stack: Any, api_key: str, other_api: Api) -> tuple[Api, Api]:
    """Two callers of one kind who must never see each other's jobs."""
    if request.param == "key":
        return Api(stack.api_url, api_key), other_api
    if request.param == "user":
        return signed_in(stack), signed_in(stack)
    return end_user(stack, api_key, "alice@example.com"), end_user(stack, api_key, "bob@example.com")


def test_another_owners_job_is_404_on_every_route_and_absent_from_list_and_queue(two_owners, settings, aws):
    owner, intruder = two_owners
    job_id = owner.submit()["job_id"]
    store = JobStore(aws("dynamodb"), settings.table_name)
    assert store.claim(job_id, utcnow(), utcnow() + timedelta(minutes=5), lease_owner="test-worker") is not None
    for method, path in [("GET", f"/api/v1/status/{job_id}"), ("GET", f"/api/v1/jobs/{job_id}"),
                         ("GET", f"/api/v1/download/{job_id}"), ("DELETE", f"/api/v1/jobs/{job_id}")]:
        response = intruder.request(method, path)
        assert response.status_code == 404 and job_id in response.json()["detail"], (method, path)
    assert job_id not in [job["job_id"] for job in intruder.get("/api/v1/jobs").json()["jobs"]]
    assert intruder.get("/api/v1/queue").json()["current_job"] != job_id
    # the owner sees it everywhere
    assert owner.status(job_id)["status"] == "processing"
    assert job_id in [job["job_id"] for job in owner.get("/api/v1/jobs").json()["jobs"]]
    assert owner.get("/api/v1/queue").json()["current_job"] == job_id


def test_one_idempotency_key_used_by_two_owners_makes_two_jobs(two_owners):
    owner, other = two_owners
    headers = {"Idempotency-Key": f"same-key-{time.monotonic_ns()}"}
    first = owner.post("/api/v1/generate", json=SEED_REQUEST, headers=headers)
    second = other.post("/api/v1/generate", json=SEED_REQUEST, headers=headers)
    assert first.status_code == second.status_code == 202  # neither is the other's replay
    assert first.json()["job_id"] != second.json()["job_id"]
    replay = owner.post("/api/v1/generate", json=SEED_REQUEST, headers=headers)
    assert replay.status_code == 200 and replay.json()["job_id"] == first.json()["job_id"]


def test_an_end_users_jobs_are_not_their_keys_own(stack, api_key):
    alice = end_user(stack, api_key, "alice")
    job_id = alice.submit()["job_id"]
    assert Api(stack.api_url, api_key).get(f"/api/v1/status/{job_id}").status_code == 404
    assert alice.status(job_id)["status"] == "queued"


# -- JWTs -----------------------------------------------------------------------------------------------------------
def _moto_signing_key() -> Any:
    """The private key the moto server signs every pool's tokens with (its resources ship it)."""
    from moto.cognitoidp.models import load_resource

    return jwt.PyJWK(load_resource("cognitoidp/resources/jwks-private.json")).key


def _claims(stack: Any, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": stack.settings.oidc_issuer, "aud": stack.settings.oidc_audiences[0], "sub": "forged-user",
              "token_use": "id", "iat": now, "exp": now + 600}
    return {**claims, **changes}


def _unsigned(claims: dict[str, Any]) -> str:
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{encode({'alg': 'none', 'typ': 'JWT', 'kid': 'dummy'})}.{encode(claims)}."


def _another_pools_token(idp: Any) -> str:
    """A real token of a second user pool on the same moto server (same signing key, another issuer and client)."""
    pool = idp.create_user_pool(PoolName=f"other-{time.monotonic_ns()}")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(UserPoolId=pool, ClientName="other",
                                            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"])["UserPoolClient"]
    idp.admin_create_user(UserPoolId=pool, Username="mallory", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="mallory", Password=PASSWORD, Permanent=True)
    result = idp.admin_initiate_auth(UserPoolId=pool, ClientId=client_id["ClientId"],
                                     AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": "mallory", "PASSWORD": PASSWORD})
    token: str = result["AuthenticationResult"]["IdToken"]
    return token


@pytest.mark.parametrize("case", ["wrong signature", "wrong issuer", "wrong audience", "expired", "alg none",
                                  "another pool", "garbage"])
def test_a_bad_token_is_401_naming_the_problem(stack, aws, case):
    moto_key = _moto_signing_key()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sign = lambda claims, key=moto_key: jwt.encode(claims, key, algorithm="RS256", headers={"kid": "dummy"})  # noqa: E731
    token = {
        "wrong signature": lambda: sign(_claims(stack), stranger),
        "wrong issuer": lambda: sign(_claims(stack, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")),
        "wrong audience": lambda: sign(_claims(stack, aud="another-app-client")),
        "expired": lambda: sign(_claims(stack, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
        "alg none": lambda: _unsigned(_claims(stack)),
        "another pool": lambda: _another_pools_token(aws("cognito-idp")),
        "garbage": lambda: "not.a.jwt",
    }[case]()
    response = bearer(stack, token).post("/api/v1/generate", json=SEED_REQUEST)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "token" in response.json()["detail"]


def test_the_same_claims_signed_right_are_accepted(stack):
    """The control for the cases above: the forged tokens differ from an accepted one only where they say."""
    token = jwt.encode(_claims(stack), _moto_signing_key(), algorithm="RS256", headers={"kid": "dummy"})
    assert bearer(stack, token).post("/api/v1/generate", json=SEED_REQUEST).status_code == 202


def test_a_signed_in_user_submits_and_downloads_their_song(stack, settings, aws):
    user = signed_in(stack)
    job_id = user.submit()["job_id"]
    audio = wav_bytes(0.25)
    write_outputs(aws("s3"), settings.bucket_name, job_id, audio=audio)  # the worker's part (tests/worker_sim.py)
    wait_for(lambda: user.status(job_id)["status"] == "completed")
    redirect = user.get(f"/api/v1/download/{job_id}")
    assert redirect.status_code == 302
    assert requests.get(redirect.headers["location"], timeout=10).content == audio
    usage = {quota["name"]: quota for quota in user.get("/api/v1/usage").json()["quotas"]}
    assert usage["jobs_per_hour"]["used"] == 1 and usage["units_per_hour"]["used"] == 1


def test_a_signed_in_user_cannot_ask_for_a_webhook(stack):
    response = signed_in(stack).post("/api/v1/generate", json={**SEED_REQUEST,
                                                               "webhook_url": "https://hooks.example.com/x"})
    assert response.status_code == 422 and "API key" in response.text


# -- API keys: lifecycle and webhook secrets --------------------------------------------------------------------------
def test_a_key_created_used_rotated_and_revoked_over_http(stack, settings, capsys):
    created = keys_cli(capsys, "create", "--customer", f"lifecycle-{time.monotonic_ns()}", "--jobs-per-hour", "5")
    key_id, first = created["key"]["key_id"], created["token"]
    job_id = Api(stack.api_url, first).submit()["job_id"]

    rotated = keys_cli(capsys, "rotate", key_id)  # no grace: the first token stops within the cache TTL
    second = Api(stack.api_url, rotated["token"])
    assert second.status(job_id)["status"] == "queued"  # same key, same owner: its jobs stay visible
    wait_for(lambda: Api(stack.api_url, first).get("/api/v1/usage").status_code == 401,
             timeout=settings.key_cache_ttl_s + 5)
    usage = {quota["name"]: quota for quota in second.get("/api/v1/usage").json()["quotas"]}
    assert usage["jobs_per_hour"] == {**usage["jobs_per_hour"], "limit": 5, "used": 1, "remaining": 4}

    assert keys_cli(capsys, "revoke", key_id)["revoked_secrets"] == 2  # the rotated-out secret too
    wait_for(lambda: second.get("/api/v1/usage").status_code == 401, timeout=settings.key_cache_ttl_s + 5)
    assert second.get(f"/api/v1/status/{job_id}").json()["detail"]


def test_each_keys_webhooks_verify_with_its_own_secret_only(stack, capsys, receiver):
    url, handler = receiver
    handler.fail_first = 0
    secrets = {}
    for name in ("hooks-a", "hooks-b"):
        created = keys_cli(capsys, "create", "--customer", f"{name}-{time.monotonic_ns()}")
        client = Api(stack.api_url, created["token"])
        job_id = client.submit(webhook_url=f"{url}?job={name}")["job_id"]
        assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 200
        secrets[job_id] = created["webhook_secret"]
    wait_for(lambda: len(handler.calls) >= 2)
    for headers, body in handler.calls:
        job_id = json.loads(body)["job_id"]
        own, (other,) = secrets[job_id], [s for j, s in secrets.items() if j != job_id]
        verify(own, body, headers[SIGNATURE_HEADER])
        with pytest.raises(SignatureError):
            verify(other, body, headers[SIGNATURE_HEADER])
