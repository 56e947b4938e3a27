"""Who is calling: an API key (``X-API-Key``, optionally acting for ``X-End-User``), a signed-in user's JWT
(``Authorization: Bearer``), or, on the local stack only, nobody.

One request carries one credential: both is 400 (ambiguous). Keys are looked up in the keys table and trusted for
``key_cache_ttl_s`` (so a revoked key stops working within that); unknown keys are not remembered, so a key created a
moment ago works at once.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from functions.api.errors import AuthError, BadRequestError, UnavailableError
from shared.accounts import ANONYMOUS, ApiKey, Caller, KeyStore, Limits, end_user_owner, token_hash, user_owner
from shared.aws import deferred_client
from shared.settings import Settings

if TYPE_CHECKING:  # PyJWT and cryptography cost a cold start ~0.1 s: imported only where users sign in
    from functions.api.tokens import TokenVerifier

END_USER_PATTERN = re.compile(r"^[\x20-\x7e]{1,128}$")  # printable ASCII: what an HTTP header carries intact
_KEY_CHALLENGE = {"WWW-Authenticate": "ApiKey"}
_TOKEN_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
_MAX_CACHED_KEYS = 10_000


class KeyLookup(Protocol):
    """Finds the API key a token is a secret of (``shared.accounts.KeyStore``; unit tests pass a fake)."""

    def lookup(self, token: str) -> ApiKey | None:
        """The usable key ``token`` is a secret of; None when unknown, revoked or past its end."""
        ...


class Authenticator:
    """Turns a request's credentials into a ``Caller``, or an ``ApiError`` (400, 401 or 503).

    Parameters
    ----------
    settings
        Default quotas and the key cache's TTL (``key_cache_ttl_s``); ``allow_anonymous``.
    keys
        The API keys, or None when the service takes none.
    tokens
        The JWT verifier, or None when nobody signs in.
    clock
        Monotonic seconds, for the key cache (tests pass their own).
    """

    def __init__(self, settings: Settings, keys: KeyLookup | None = None, tokens: TokenVerifier | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if keys is None and tokens is None and not settings.allow_anonymous:
            raise RuntimeError("the API has no way to authenticate callers: set KEYS_TABLE_NAME (API keys) and/or "
                               "OIDC_ISSUER with OIDC_AUDIENCES (sign-in), or ALLOW_ANONYMOUS=true on a local stack")
        self.settings, self.keys, self.tokens, self._clock = settings, keys, tokens, clock
        self._cache: dict[str, tuple[float, ApiKey]] = {}  # sha256 of the token -> (trusted until, key)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        """The keys table and the OIDC issuer the settings name. Raises ``RuntimeError`` when they name neither and
        anonymous access is off, when anonymous access is on inside Lambda, or when an issuer has no audience."""
        if settings.allow_anonymous and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            raise RuntimeError("ALLOW_ANONYMOUS is set in Lambda: a deployed API never runs without authentication")
        if settings.oidc_issuer and not settings.oidc_audiences:
            raise RuntimeError("OIDC_ISSUER is set without OIDC_AUDIENCES: name the app client ids tokens are for")
        keys = None
        if settings.keys_table_name:
            keys = KeyStore(deferred_client("dynamodb", settings), settings.keys_table_name)
        tokens = None
        if settings.oidc_issuer:
            from functions.api.tokens import TokenVerifier

            tokens = TokenVerifier(settings.oidc_issuer, settings.oidc_audiences, settings.oidc_jwks_url)
        return cls(settings, keys, tokens)

    def authenticate(self, api_key: str | None, bearer: str | None, end_user: str | None) -> Caller:
        """The caller of a request with these headers (None = absent)."""
        if api_key and bearer:
            raise BadRequestError("send either X-API-Key or Authorization: Bearer, not both")
        if end_user is not None and not api_key:
            raise BadRequestError("X-End-User needs an API key (X-API-Key)")
        if end_user is not None and not END_USER_PATTERN.match(end_user):
            raise BadRequestError("X-End-User must be 1 to 128 printable ASCII characters")
        if api_key:
            return self._key_caller(api_key, end_user)
        if bearer:
            return self._user_caller(bearer)
        if self.settings.allow_anonymous:
            return Caller(owner=ANONYMOUS, account=ANONYMOUS, limits=Limits().resolved(self.settings),
                          kind="anonymous")
        raise self._missing()

    def _key_caller(self, token: str, end_user: str | None) -> Caller:
        key = self._lookup(token)
        limits = key.limits.resolved(self.settings)
        if end_user is None:
            return Caller(owner=key.customer, account=key.customer, limits=limits, kind="key", key_id=key.key_id)
        return Caller(owner=end_user_owner(key.customer, end_user), account=key.customer, limits=limits,
                      kind="end_user", key_id=key.key_id)

    def _user_caller(self, token: str) -> Caller:
        if self.tokens is None:
            raise AuthError("this service does not accept bearer tokens", headers=_TOKEN_CHALLENGE)
        from functions.api.tokens import SigningKeysUnavailableError, TokenError  # loaded with self.tokens

        try:
            issuer, subject = self.tokens.verify(token)
        except SigningKeysUnavailableError as error:
            raise UnavailableError(str(error)) from error
        except TokenError as error:
            raise AuthError(f"invalid bearer token: {error}", headers=_TOKEN_CHALLENGE) from error
        owner = user_owner(issuer, subject)
        return Caller(owner=owner, account=owner, limits=Limits().resolved(self.settings), kind="user")

    def _lookup(self, token: str) -> ApiKey:
        """The key of ``token``: from the cache while its entry is fresh, else from the keys table."""
        if self.keys is None:
            raise AuthError("this service does not accept API keys", headers=_KEY_CHALLENGE)
        digest = token_hash(token)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and now < cached[0]:
            return cached[1]
        try:
            key = self.keys.lookup(token)
        except (BotoCoreError, ClientError) as error:
            raise UnavailableError("the API key could not be checked; please retry") from error
        if key is None:
            with self._lock:
                self._cache.pop(digest, None)
            raise AuthError("X-API-Key: unknown or revoked API key", headers=_KEY_CHALLENGE)
        if self.settings.key_cache_ttl_s > 0:
            self._remember(digest, now + self.settings.key_cache_ttl_s, key)
        return key

    def _remember(self, digest: str, until: float, key: ApiKey) -> None:
        with self._lock:
            if len(self._cache) >= _MAX_CACHED_KEYS:
                now = self._clock()
                self._cache = {d: entry for d, entry in self._cache.items() if now < entry[0]}
                while len(self._cache) >= _MAX_CACHED_KEYS:  # still full of fresh entries: drop the oldest
                    del self._cache[next(iter(self._cache))]
            self._cache.pop(digest, None)  # re-inserted last: the dict stays in expiry order
            self._cache[digest] = (until, key)

    def _missing(self) -> AuthError:
        accepted = [("X-API-Key", "ApiKey")] if self.keys is not None else []
        accepted += [("Authorization: Bearer <token>", "Bearer")] if self.tokens is not None else []
        return AuthError(f"missing credentials: send {' or '.join(h for h, _ in accepted)}",
                         headers={"WWW-Authenticate": ", ".join(c for _, c in accepted)})
