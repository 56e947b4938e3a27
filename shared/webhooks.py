"""Signed webhook notifications (HMAC-SHA256), and the check a receiver runs.

The POST carries ``X-DiffRhythm-Signature: t=<unix seconds>,v1=<hex hmac>`` where the HMAC-SHA256 is taken with the
shared secret over ``f"{t}.{body}"``, so a receiver can reject both forged and replayed calls.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from collections.abc import Callable

SIGNATURE_HEADER = "X-DiffRhythm-Signature"


class SignatureError(ValueError):
    """The webhook signature is missing, malformed, wrong or too old."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for ``body``.

    Example
    -------
    >>> sign("s", b"{}", 1700000000)[:13]
    't=1700000000,'
    """
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str | None, tolerance_s: int = 300, now: float | None = None) -> None:
    """Raise ``SignatureError`` unless ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` seconds."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
        received = parts["v1"]
    except (KeyError, ValueError) as error:
        raise SignatureError(f"malformed {SIGNATURE_HEADER}: expected t=<seconds>,v1=<hex>") from error
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        raise SignatureError("signature timestamp outside the tolerance (replayed or clock skew)")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, received):
        raise SignatureError("signature does not match the body")


def deliver(
    url: str, body: bytes, secret: str, *, attempts: int = 3, timeout_s: float = 5.0, backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """POST ``body`` to ``url`` with retries and exponential backoff; None on a 2xx, else the last error."""
    error = "not attempted"
    for attempt in range(attempts):
        if attempt:
            sleep(backoff_s * 2 ** (attempt - 1))
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "diffrhythm-service-webhook/1",
            SIGNATURE_HEADER: sign(secret, body),
        })
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                if 200 <= response.status < 300:
                    return None
                error = f"HTTP {response.status}"
        except urllib.error.HTTPError as failure:
            error = f"HTTP {failure.code}"
        except (urllib.error.URLError, OSError) as failure:
            error = f"{type(failure).__name__}: {failure}"
    return error
