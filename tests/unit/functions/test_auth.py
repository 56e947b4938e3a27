"""Who a request's credentials make the caller: API keys (alone or for an end user), JWTs, nobody; refusals."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from functions.api.auth import Authenticator
from functions.api.errors import ApiError, AuthError, BadRequestError, UnavailableError
from functions.api.tokens import TokenVerifier
from shared.accounts import ANONYMOUS, Caller, KeyStore, Limits, end_user_owner, user_owner
from tests.unit.functions.conftest import FakeKeys, api_key, make_settings
from tests.unit.functions.issuer import CLIENT_ID, ISSUER

KEY, OTHER_KEY = "drk_unit-key-acme-" + "a" * 20, "drk_unit-key-globex-" + "b" * 20


@pytest.fixture
def keys() -> FakeKeys:
    return FakeKeys({KEY: api_key("acme", jobs_per_hour=7), OTHER_KEY: api_key("globex")})


@pytest.fixture
def auth(keys, issuer, monotonic) -> Authenticator:
    settings = make_settings(allow_anonymous=False, key_cache_ttl_s=60, jobs_per_hour=20, rate_limit_per_hour=40)
    return Authenticator(settings, keys, TokenVerifier(ISSUER, [CLIENT_ID], fetch=issuer.fetch), clock=monotonic)


def refusal(auth: Authenticator, api_key: str | None = None, bearer: str | None = None,
            end_user: str | None = None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        auth.authenticate(api_key, bearer, end_user)
    return caught.value


def test_a_key_is_its_customer_with_the_keys_limits_over_the_defaults(auth):
    caller = auth.authenticate(KEY, None, None)
    assert caller == Caller(owner="acme", account="acme", kind="key", key_id=api_key("acme").key_id,
                            limits=Limits(units_per_hour=40, jobs_per_hour=7, gpu_seconds_per_day=0,
                                          uploads_per_day=0))
    assert auth.authenticate(OTHER_KEY, None, None).owner == "globex"


def test_an_end_user_is_their_own_owner_under_the_keys_account(auth):
    alice = auth.authenticate(KEY, None, "alice@example.com")
    bob = auth.authenticate(KEY, None, "bob")
    assert alice.owner == end_user_owner("acme", "alice@example.com") != bob.owner
    assert alice.owner != "acme" and (alice.account, bob.account) == ("acme", "acme")
    assert (alice.kind, alice.key_id, alice.limits.jobs_per_hour) == ("end_user", api_key("acme").key_id, 7)
    # the same end-user id under another customer's key is someone else
    assert auth.authenticate(OTHER_KEY, None, "bob").owner != bob.owner


def test_a_signed_in_user_is_owner_and_account_with_the_default_limits(auth, issuer):
    caller = auth.authenticate(None, issuer.token(sub="user-42"), None)
    assert caller == Caller(owner=user_owner(ISSUER, "user-42"), account=user_owner(ISSUER, "user-42"),
                            kind="user", key_id=None,
                            limits=Limits(units_per_hour=40, jobs_per_hour=20, gpu_seconds_per_day=0,
                                          uploads_per_day=0))
    assert auth.authenticate(None, issuer.access_token(sub="user-42"), None).owner == caller.owner


def test_both_credentials_are_ambiguous(auth, issuer):
    error = refusal(auth, KEY, issuer.token())
    assert isinstance(error, BadRequestError) and error.status == 400 and "not both" in error.detail


@pytest.mark.parametrize("credentials", [{}, {"bearer": "jwt"}], ids=["none", "bearer"])
def test_x_end_user_needs_an_api_key(auth, issuer, credentials):
    bearer = issuer.token() if credentials else None
    error = refusal(auth, bearer=bearer, end_user="alice")
    assert error.status == 400 and error.detail == "X-End-User needs an API key (X-API-Key)"


@pytest.mark.parametrize("end_user", ["", "x" * 129, "tab\there", "nul\x00", "caf\xe9", "\x7f"])
def test_x_end_user_must_be_1_to_128_printable_characters(auth, end_user):
    error = refusal(auth, KEY, end_user=end_user)
    assert error.status == 400 and "1 to 128 printable" in error.detail


def test_the_longest_end_user_id_and_spaces_are_fine(auth):
    assert auth.authenticate(KEY, None, "x" * 128).kind == "end_user"
    assert auth.authenticate(KEY, None, "Alice Smith <alice@example.com>").kind == "end_user"


def test_no_credentials_is_401_naming_what_is_accepted(auth):
    error = refusal(auth)
    assert isinstance(error, AuthError) and error.status == 401
    assert error.detail == "missing credentials: send X-API-Key or Authorization: Bearer <token>"
    assert error.headers == {"WWW-Authenticate": "ApiKey, Bearer"}


def test_no_credentials_is_the_anonymous_caller_only_when_allowed(keys):
    settings = make_settings(allow_anonymous=True, rate_limit_per_hour=5)
    caller = Authenticator(settings, keys).authenticate(None, None, None)
    assert caller == Caller(owner=ANONYMOUS, account=ANONYMOUS, kind="anonymous", key_id=None,
                            limits=Limits(units_per_hour=5, jobs_per_hour=0, gpu_seconds_per_day=0,
                                          uploads_per_day=0))
    keys_only = Authenticator(make_settings(allow_anonymous=False), keys)
    assert refusal(keys_only).headers == {"WWW-Authenticate": "ApiKey"}


def test_an_unknown_or_revoked_key_is_401(auth, keys):
    error = refusal(auth, "drk_nobody-has-this-key-000000")
    assert error.status == 401 and error.headers == {"WWW-Authenticate": "ApiKey"}
    assert "unknown or revoked" in error.detail
    keys.revoke(KEY)
    assert refusal(auth, KEY).status == 401


def test_a_bad_token_is_401_with_the_bearer_challenge(auth, issuer):
    for token in (issuer.token(aud="someone-else"), issuer.token(iss="https://evil.example.com"), "garbage"):
        error = refusal(auth, bearer=token)
        assert error.status == 401 and error.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        assert error.detail.startswith("invalid bearer token: token ")


def test_a_credential_the_service_does_not_take_is_401(keys, issuer):
    keys_only = Authenticator(make_settings(allow_anonymous=True), keys)
    error = refusal(keys_only, bearer=issuer.token())
    assert error.status == 401 and error.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    tokens_only = Authenticator(make_settings(allow_anonymous=True), None, TokenVerifier(ISSUER, [CLIENT_ID],
                                                                                         fetch=issuer.fetch))
    error = refusal(tokens_only, KEY)
    assert error.status == 401 and error.detail == "this service does not accept API keys"
    assert refusal(Authenticator(make_settings(allow_anonymous=False), None, tokens_only.tokens)).headers == {
        "WWW-Authenticate": "Bearer"}


def test_an_outage_of_the_key_table_or_the_issuer_is_503_not_401(auth, keys, issuer):
    keys.failing = ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "arn:..."}},
                               "GetItem")
    error = refusal(auth, KEY)
    assert isinstance(error, UnavailableError) and "arn" not in error.detail
    issuer.failing = True
    assert isinstance(refusal(auth, bearer=issuer.token()), UnavailableError)


def test_a_revoked_key_works_until_the_cache_ttl_then_stops(auth, keys, monotonic):
    assert auth.authenticate(KEY, None, None).owner == "acme"
    keys.revoke(KEY)
    monotonic.now += 59
    assert auth.authenticate(KEY, None, "alice").account == "acme"  # still trusted from the cache
    assert keys.lookups == 1
    monotonic.now += 1
    assert refusal(auth, KEY).status == 401
    assert refusal(auth, KEY).status == 401 and keys.lookups == 3  # a refusal is not remembered as a key


def test_an_unknown_key_is_not_remembered_so_a_new_key_works_at_once(auth, keys):
    new_key = "drk_created-a-moment-later-" + "c" * 10
    assert refusal(auth, new_key).status == 401
    keys.keys[new_key] = api_key("initech")
    assert auth.authenticate(new_key, None, None).owner == "initech"


def test_a_zero_ttl_looks_every_key_up(keys, monotonic):
    auth = Authenticator(make_settings(key_cache_ttl_s=0), keys, clock=monotonic)
    for _ in range(3):
        auth.authenticate(KEY, None, None)
    assert keys.lookups == 3
    keys.revoke(KEY)
    assert refusal(auth, KEY).status == 401


def test_the_api_refuses_to_start_without_authentication(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    with pytest.raises(RuntimeError, match="no way to authenticate"):
        Authenticator.from_settings(make_settings(allow_anonymous=False))
    with pytest.raises(RuntimeError, match="OIDC_AUDIENCES"):
        Authenticator.from_settings(make_settings(allow_anonymous=False, oidc_issuer=ISSUER))
    assert Authenticator.from_settings(make_settings(allow_anonymous=True)).keys is None


def test_anonymous_access_is_refused_inside_lambda(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "diffrhythm-api")
    monkeypatch.setattr("functions.api.auth.deferred_client", lambda service, settings: f"{service} client")
    with pytest.raises(RuntimeError, match="ALLOW_ANONYMOUS is set in Lambda"):
        Authenticator.from_settings(make_settings(allow_anonymous=True, keys_table_name="keys"))
    built = Authenticator.from_settings(make_settings(allow_anonymous=False, keys_table_name="keys"))
    assert isinstance(built.keys, KeyStore) and built.tokens is None


def test_from_settings_builds_the_verifier_of_the_issuer(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    built = Authenticator.from_settings(make_settings(
        allow_anonymous=False, oidc_issuer=ISSUER, oidc_audiences=f"{CLIENT_ID}, web",
        oidc_jwks_url="http://127.0.0.1:5000/us-east-1_unitpool/.well-known/jwks.json"))
    assert built.keys is None and built.tokens is not None
    assert built.tokens.audiences == {CLIENT_ID, "web"}
    assert built.tokens.jwks_url == "http://127.0.0.1:5000/us-east-1_unitpool/.well-known/jwks.json"
