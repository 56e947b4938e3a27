"""JWT verification against an issuer's JWKS: what signs a user in, and each way a token is refused."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from functions.api.tokens import SigningKeysUnavailableError, TokenError, TokenVerifier
from tests.unit.functions.issuer import CLIENT_ID, ISSUER, FakeIssuer, Monotonic


@pytest.fixture
def verifier(issuer: FakeIssuer, monotonic: Monotonic) -> TokenVerifier:
    return TokenVerifier(ISSUER, [CLIENT_ID, "another-client"], fetch=issuer.fetch, clock=monotonic)


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        verifier.verify(token)
    return str(caught.value)


def test_a_valid_id_token_and_a_valid_cognito_access_token_sign_the_user_in(verifier, issuer):
    assert verifier.verify(issuer.token()) == (ISSUER, "user-1")
    assert verifier.verify(issuer.token(aud=["someone-else", CLIENT_ID], sub="user-2")) == (ISSUER, "user-2")
    assert verifier.verify(issuer.access_token()) == (ISSUER, "user-1")
    assert issuer.fetches == 1  # the keys are fetched once and kept


def test_a_token_signed_by_another_key_under_the_same_kid_is_refused(verifier, issuer):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refused(verifier, issuer.token(key=forger)) == "token signature invalid"


def test_a_token_of_another_issuer_signed_with_the_same_key_is_refused(verifier, issuer):
    """moto signs every user pool's tokens with one key: only the issuer tells the pools apart."""
    other_pool = ISSUER.replace("unitpool", "otherpool")
    assert refused(verifier, issuer.token(iss=other_pool)) == "token issuer not accepted"
    assert refused(verifier, issuer.token(iss=ISSUER + "/")) == "token issuer not accepted"  # exact, not a prefix
    assert refused(verifier, issuer.token(iss=None)) == "token has no iss claim"


@pytest.mark.parametrize("claims", [
    {"aud": "another-pools-client"},
    {"aud": ["a", "b"]},
    {"aud": None},  # an ID token without an audience
    {"aud": None, "token_use": "access", "client_id": "another-pools-client"},
    {"aud": None, "token_use": "id", "client_id": CLIENT_ID},  # client_id counts for access tokens only
], ids=["other-aud", "aud-list-without-ours", "no-aud", "access-other-client", "client_id-on-an-id-token"])
def test_a_token_for_another_audience_is_refused(verifier, issuer, claims):
    assert refused(verifier, issuer.token(**claims)) == "token audience not accepted"


def test_an_expired_token_is_refused_beyond_the_leeway(verifier, issuer):
    now = int(time.time())
    assert refused(verifier, issuer.token(exp=now - 120, iat=now - 3720)) == "token expired"
    assert verifier.verify(issuer.token(exp=now - 5)) == (ISSUER, "user-1")  # a clock 5 s apart is tolerated
    assert refused(verifier, issuer.token(exp=None)) == "token has no exp claim"
    assert refused(verifier, issuer.token(nbf=now + 600)) == "token not valid yet"


def test_an_unsigned_token_is_refused(verifier, issuer):
    assert refused(verifier, issuer.unsigned_token("none")) == "token algorithm not accepted (RS256 only)"


def test_hs256_signed_with_the_issuers_public_key_is_refused(verifier, issuer):
    """The algorithm confusion attack: the public key (which anyone can fetch) used as an HMAC secret."""
    for secret in (issuer.public_pem(), issuer.public_pem().strip()):
        forged = issuer.unsigned_token("HS256", secret=secret)
        assert refused(verifier, forged) == "token algorithm not accepted (RS256 only)"


def test_a_token_without_a_subject_is_refused(verifier, issuer):
    assert refused(verifier, issuer.token(sub=None)) == "token has no sub claim"
    assert refused(verifier, issuer.token(sub="")) == "token has no sub claim"


def test_garbage_and_a_token_naming_no_key_are_refused(verifier, issuer):
    assert refused(verifier, "not-a-jwt") == "token is malformed"
    no_kid = jwt.encode(issuer.claims(), issuer.private_key, algorithm="RS256")
    assert refused(verifier, no_kid) == "token names no signing key (kid)"


def test_an_unknown_kid_refetches_the_keys_at_most_once_per_interval(verifier, issuer, monotonic):
    assert verifier.verify(issuer.token()) and issuer.fetches == 1
    assert refused(verifier, issuer.token(kid="made-up")) == "token signed by an unknown key"
    assert issuer.fetches == 1  # the keys were fetched a moment ago
    monotonic.now += verifier.keys.min_refetch_s
    for _ in range(5):  # made-up key ids cannot make the API hammer the issuer
        assert refused(verifier, issuer.token(kid="made-up")) == "token signed by an unknown key"
    assert issuer.fetches == 2
    # the issuer rotates: a new key appears; after the interval its tokens work
    rotated = FakeIssuer(kid="unit-kid-2")
    issuer.extra_keys = [rotated.jwk()]
    monotonic.now += verifier.keys.min_refetch_s
    assert verifier.verify(rotated.token()) == (ISSUER, "user-1") and issuer.fetches == 3


def test_the_keys_are_refreshed_when_old_and_a_failed_fetch_keeps_the_known_ones(verifier, issuer, monotonic):
    assert verifier.verify(issuer.token())
    monotonic.now += verifier.keys.max_age_s
    issuer.failing = True
    assert verifier.verify(issuer.token()) == (ISSUER, "user-1")  # the issuer's outage signs nobody out
    assert issuer.fetches == 2
    issuer.failing = False
    issuer.kid = "unit-kid-withdrawn"  # the old key is withdrawn from the JWKS
    old = issuer.token(kid="unit-kid-1")
    monotonic.now += verifier.keys.min_refetch_s
    assert refused(verifier, old) == "token signed by an unknown key"


def test_no_keys_at_all_is_unavailable_not_a_bad_token(issuer, monotonic):
    issuer.failing = True
    verifier = TokenVerifier(ISSUER, [CLIENT_ID], fetch=issuer.fetch, clock=monotonic)
    with pytest.raises(SigningKeysUnavailableError):
        verifier.verify(issuer.token())
    with pytest.raises(SigningKeysUnavailableError):  # not fetched again at once
        verifier.verify(issuer.token())
    assert issuer.fetches == 1
    issuer.failing = False
    monotonic.now += verifier.keys.min_refetch_s
    assert verifier.verify(issuer.token()) == (ISSUER, "user-1")


def test_the_jwks_url_defaults_to_the_issuers_well_known_path_and_an_audience_is_required():
    assert TokenVerifier(ISSUER, [CLIENT_ID]).jwks_url == f"{ISSUER}/.well-known/jwks.json"
    assert TokenVerifier(ISSUER, [CLIENT_ID], "http://127.0.0.1:5000/pool/.well-known/jwks.json").jwks_url.startswith(
        "http://127.0.0.1:5000/")
    with pytest.raises(ValueError, match="audience"):
        TokenVerifier(ISSUER, [])
