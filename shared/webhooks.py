"""Signed webhook notifications (HMAC-SHA256), and the check a receiver runs.

The POST carries ``X-DiffRhythm-Signature: t=<unix seconds>,v1=<hex hmac>`` where the HMAC-SHA256 is taken with the
shared secret over ``f"{t}.{body}"``, so a receiver can reject forged and stale calls; the body's ``event_id`` (the
same for every retry of one event) lets it drop a replay within the tolerance. Targets are checked before every call:
https only, and no private, loopback or link-local address (the cloud's metadata service included).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
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


class UnsafeTargetError(ValueError):
    """A webhook URL this service will not call: the message says why."""


Resolver = Callable[[str, int], list[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (the system resolver)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def checked_address(url: str, *, allow_private: bool = False, resolve: Resolver = resolve_host) -> str:
    """The address to connect to for ``url``: every address its host resolves to must be public (no loopback,
    private, link-local such as 169.254.169.254, multicast, reserved or unspecified addresses), and the scheme https
    (``allow_private`` lifts both rules, for the local stack). Raises ``UnsafeTargetError``.

    Example
    -------
    >>> checked_address("https://hooks.example.com/x", resolve=lambda host, port: ["93.184.216.34"])
    '93.184.216.34'
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise UnsafeTargetError("webhook_url must use https")
    if not parts.hostname:
        raise UnsafeTargetError("webhook_url has no host")
    try:
        addresses = resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError) as error:
        raise UnsafeTargetError(f"webhook_url: {parts.hostname} does not resolve") from error
    if not addresses:
        raise UnsafeTargetError(f"webhook_url: {parts.hostname} does not resolve")
    if not allow_private:
        for address in addresses:
            if not ipaddress.ip_address(address.split("%", 1)[0]).is_global:
                raise UnsafeTargetError(f"webhook_url: {parts.hostname} is a private, loopback or link-local address")
    return addresses[0]


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTP(S) to an address checked beforehand, with the URL's host for TLS (SNI, certificate) and ``Host``."""

    def __init__(self, host: str, port: int | None, address: str, timeout: float, tls: bool) -> None:
        super().__init__(host, port or (443 if tls else 80), timeout=timeout)
        self._address = address
        self._tls = ssl.create_default_context() if tls else None

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host) if self._tls else sock


def post_once(url: str, body: bytes, headers: dict[str, str], address: str, deadline_s: float) -> int:
    """One POST to ``url`` through ``address``: no redirects followed, and ``deadline_s`` for the whole exchange
    (a receiver that trickles its answer is cut off, whatever each read takes). Returns the status code."""
    parts = urllib.parse.urlsplit(url)
    connection = _PinnedConnection(parts.hostname or "", parts.port, address, deadline_s, parts.scheme == "https")
    result: dict[str, int | BaseException] = {}

    def exchange() -> None:
        try:
            connection.request("POST", urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")),
                               body=body, headers=headers)
            result["status"] = connection.getresponse().status
        except BaseException as error:  # reported to the caller's thread
            result["error"] = error

    thread = threading.Thread(target=exchange, daemon=True)
    thread.start()
    thread.join(deadline_s)
    if thread.is_alive():
        if connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked read
        thread.join(1.0)
        connection.close()
        raise TimeoutError(f"no answer within {deadline_s:g} s")
    connection.close()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return int(result["status"])  # type: ignore[arg-type]


class DeliveryError(Exception):
    """One delivery attempt failed (no connection, no answer within the deadline, a non-2xx answer or a redirect);
    a later attempt may succeed. The message says what happened, for the job's ``webhook_error``."""


def deliver(url: str, body: bytes, secret: str, *, timeout_s: float = 5.0, allow_private: bool = False,
            resolve: Resolver = resolve_host) -> None:
    """One signed POST of ``body`` to ``url``; returns on a 2xx answer.

    The target is checked (``checked_address``) and the connection goes to the address that was checked; redirects
    are not followed; ``timeout_s`` bounds the whole exchange. Raises ``UnsafeTargetError`` when the target is not
    allowed (retrying cannot help) and ``DeliveryError`` when this attempt failed (retrying may). Retries are the
    caller's: the webhook function gets one attempt per queue delivery.
    """
    address = checked_address(url, allow_private=allow_private, resolve=resolve)
    headers = {"Content-Type": "application/json", "User-Agent": "diffrhythm-service-webhook/1",
               SIGNATURE_HEADER: sign(secret, body)}
    try:
        status = post_once(url, body, headers, address, timeout_s)
    except (OSError, http.client.HTTPException, ssl.SSLError) as failure:  # TimeoutError is an OSError
        raise DeliveryError(f"{type(failure).__name__}: {failure}") from failure
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else ""))
