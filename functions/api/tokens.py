"""Signed-in users' JWTs (a Cognito user pool or any OIDC issuer): signature, issuer, audience and expiry.

Only RS256 is accepted, with the issuer's published keys (its JWKS), so an unsigned token (``alg: none``) or one
"signed" with HS256 over the public key fails. The keys are fetched once and kept; a token naming a key not seen yet
fetches them again, at most once per ``min_refetch_s`` (so made-up key ids cannot make the API hammer the issuer),
and the whole set is refreshed after ``max_age_s`` (a key the issuer withdrew stops being trusted).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import jwt
from aws_lambda_powertools import Logger
from jwt import PyJWK, PyJWKClient, PyJWKSet

logger = Logger(service="api")

ALGORITHMS = ["RS256"]


class TokenError(Exception):
    """A token that does not sign anyone in; the message is safe to show to the caller."""


class SigningKeysUnavailableError(TokenError):
    """The issuer's keys could not be fetched: nothing is wrong with the token itself (try again later)."""


def _http_fetch(url: str, timeout_s: float) -> Callable[[], Any]:
    client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout_s)  # checks the scheme; follows no redirect
    return client.fetch_data


class SigningKeys:
    """The issuer's public keys by ``kid``, fetched with ``fetch`` (the JWKS document as a dict) and kept.

    A fetch happens when there are no keys yet, when they are ``max_age_s`` old, or for an unknown ``kid``; never
    twice within ``min_refetch_s``. A failed fetch keeps the keys already known (an outage of the issuer's endpoint
    does not sign everyone out).
    """

    def __init__(self, fetch: Callable[[], Any], *, clock: Callable[[], float] = time.monotonic,
                 max_age_s: float = 3600.0, min_refetch_s: float = 10.0) -> None:
        self._fetch, self._clock = fetch, clock
        self.max_age_s, self.min_refetch_s = max_age_s, min_refetch_s
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None  # the last fetch that succeeded
        self._tried_at: float | None = None  # the last fetch
        self._lock = threading.Lock()

    def get(self, kid: str) -> PyJWK:
        """The key named ``kid``; ``TokenError`` when the issuer has none by that name, ``SigningKeysUnavailableError``
        when no key could be fetched at all."""
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self.max_age_s
            may_fetch = self._tried_at is None or now - self._tried_at >= self.min_refetch_s
            if (stale or kid not in self._keys) and may_fetch:
                self._tried_at = now
                self._refresh(now)
            if self._fetched_at is None:
                raise SigningKeysUnavailableError("the issuer's signing keys could not be fetched; please retry")
            key = self._keys.get(kid)
        if key is None:
            raise TokenError("token signed by an unknown key")
        return key

    def _refresh(self, now: float) -> None:
        try:
            document = self._fetch()
            keys = {k.key_id: k for k in PyJWKSet.from_dict(document).keys
                    if k.key_id and k.key_type == "RSA" and k.public_key_use in ("sig", None)}
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError, OSError):
            logger.warning("fetching the issuer's signing keys failed", exc_info=True)
            return
        self._keys, self._fetched_at = keys, now


class TokenVerifier:
    """Verifies JWTs of one issuer for some audiences (app client ids)."""

    def __init__(self, issuer: str, audiences: Sequence[str], jwks_url: str = "", *,
                 fetch: Callable[[], Any] | None = None, clock: Callable[[], float] = time.monotonic,
                 leeway_s: float = 30.0, timeout_s: float = 5.0) -> None:
        if not issuer or not audiences:
            raise ValueError("a token verifier needs an issuer and at least one audience")
        self.issuer, self.audiences, self.leeway_s = issuer, frozenset(audiences), leeway_s
        self.jwks_url = jwks_url or f"{issuer.rstrip('/')}/.well-known/jwks.json"
        self.keys = SigningKeys(fetch or _http_fetch(self.jwks_url, timeout_s), clock=clock)

    def verify(self, token: str) -> tuple[str, str]:
        """``(issuer, sub)`` of a valid token; ``TokenError`` naming what is wrong otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise TokenError("token is malformed") from error
        if header.get("alg") not in ALGORITHMS:
            raise TokenError("token algorithm not accepted (RS256 only)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError("token names no signing key (kid)")
        key = self.keys.get(kid)
        try:
            claims = jwt.decode(token, key.key, algorithms=ALGORITHMS, issuer=self.issuer, leeway=self.leeway_s,
                                options={"require": ["exp", "iss", "sub"], "verify_aud": False})
        except jwt.ExpiredSignatureError as error:
            raise TokenError("token expired") from error
        except jwt.InvalidIssuerError as error:
            raise TokenError("token issuer not accepted") from error
        except jwt.ImmatureSignatureError as error:
            raise TokenError("token not valid yet") from error
        except jwt.MissingRequiredClaimError as error:
            raise TokenError(f"token has no {error.claim} claim") from error
        except jwt.InvalidSignatureError as error:
            raise TokenError("token signature invalid") from error
        except jwt.PyJWTError as error:
            raise TokenError("token is invalid") from error
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise TokenError("token has no sub claim")
        if not self._audience_accepted(claims):
            raise TokenError("token audience not accepted")
        return self.issuer, subject

    def _audience_accepted(self, claims: dict[str, Any]) -> bool:
        """``aud`` names an accepted client; or, a Cognito access token (which has no ``aud``), its ``client_id``."""
        if "aud" in claims:
            audience = claims["aud"]
            named = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
            return any(isinstance(a, str) and a in self.audiences for a in named)
        return claims.get("token_use") == "access" and claims.get("client_id") in self.audiences
