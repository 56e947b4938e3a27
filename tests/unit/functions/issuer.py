"""A fake OIDC issuer for unit tests: an RSA key of its own, its JWKS as a dict, and tokens signed with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_unitpool"
CLIENT_ID = "unitclient0123456789abcdef"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeIssuer:
    """Signs tokens as ``issuer`` with a fresh RSA key named ``kid``; ``fetch`` serves its JWKS and counts calls."""

    def __init__(self, issuer: str = ISSUER, kid: str = "unit-kid-1") -> None:
        self.issuer, self.kid = issuer, kid
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.fetches = 0
        self.failing = False
        self.extra_keys: list[dict[str, Any]] = []

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK."""
        key: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**key, "kid": self.kid, "alg": "RS256", "use": "sig"}

    def fetch(self) -> dict[str, Any]:
        """The JWKS document (``TokenVerifier``'s injectable fetch)."""
        self.fetches += 1
        if self.failing:
            raise OSError("connection refused")
        return {"keys": [self.jwk(), *self.extra_keys]}

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """An ID token's claims for the user "user-1" of ``CLIENT_ID``, valid for an hour; ``None`` drops a claim."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "user-1", "aud": CLIENT_ID, "token_use": "id", "iat": now,
                  "exp": now + 3600, **overrides}
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, *, kid: str | None = None, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        """A token signed with RS256 (by this issuer's key unless ``key``) naming ``kid`` (this issuer's unless
        given)."""
        return jwt.encode(self.claims(**claims), key or self.private_key, algorithm="RS256",
                          headers={"kid": kid or self.kid})

    def access_token(self, **claims: Any) -> str:
        """A Cognito-style access token: no ``aud``, ``token_use`` "access" and the app client in ``client_id``."""
        return self.token(**{"aud": None, "token_use": "access", "client_id": CLIENT_ID, **claims})

    def unsigned_token(self, alg: str = "none", secret: bytes = b"", **claims: Any) -> str:
        """A token with header ``alg`` "signed" with HMAC-SHA256 over ``secret`` (or not at all for "none"): what an
        attacker builds by hand (PyJWT refuses to make the HMAC-with-a-public-key one)."""
        header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": self.kid}).encode())
        payload = _b64(json.dumps(self.claims(**claims)).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = _b64(hmac.new(secret, signing_input, hashlib.sha256).digest()) if alg == "HS256" else ""
        return f"{header}.{payload}.{signature}"


class Monotonic:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
