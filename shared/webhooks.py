"""Signed webhook notifications (HMAC-SHA256), and the check a receiver runs.

The POST carries ``X-DiffRhythm-Signature: t=<unix seconds>,v1=<hex hmac>`` where the HMAC-SHA256 is taken with the
job's signing secret (its API key's own, ``key_secret``) over ``f"{t}.{body}"``, so a receiver can reject forged and
stale calls; the body's ``event_id`` (the same for every retry of one event) lets it drop a replay within the
tolerance. Targets are checked before every call: https only, and no private, loopback or link-local address (the
cloud's metadata service included).
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


def key_secret(master: str, key_id: str) -> str:
    """The webhook signing secret of API key ``key_id``: HMAC-SHA256 of ``"webhook\\n" + key_id`` under the master
    secret, so each customer verifies with their own secret and cannot forge another's events. It depends only on the
    key id, which rotation keeps: a rotated key signs as before.

    Example
    -------
    >>> key_secret("master", "key_0123456789abcdef")
    '97c019557a08fe30d90748d1ed54e9479a120ce5505410f455dc407c39ea50c6'
    >>> key_secret("master", "key_a") != key_secret("master", "key_b") != "master"
    True
    """
    return hmac.new(master.encode(), f"webhook\n{key_id}".encode(), hashlib.sha256).hexdigest()


def signing_secret(master: str, key_id: str | None) -> str:
    """The secret that signs a job's webhooks: its API key's (``key_secret``) when it was submitted with one, else
    the master itself (a job without a key: the local stack's anonymous caller)."""
    return key_secret(master, key_id) if key_id else master


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
    """A webhook URL this service will not call (retrying cannot help): the message says why."""


class UnknownHostError(UnsafeTargetError):
    """The resolver answered that the webhook's host does not exist (or has no address)."""


class DeliveryError(Exception):
    """One delivery attempt failed (no answer from the resolver, no connection, no answer within the deadline, a
    non-2xx answer or a redirect); a later attempt may succeed. The message says what happened, for the job's
    ``webhook_error``."""


class ResolutionError(DeliveryError):
    """The resolver gave no answer this time (timeout, SERVFAIL, no network): neither allowed nor refused yet."""


Resolver = Callable[[str, int], list[str]]
_NO_SUCH_HOST = frozenset(code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None)


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (the system resolver), in its order of preference, without repeats."""
    return list(dict.fromkeys(str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))


def _resolve_within(resolve: Resolver, host: str, port: int, timeout_s: float) -> list[str]:
    """``resolve(host, port)``, given up after ``timeout_s`` (``TimeoutError``). The system resolver cannot be
    interrupted: a lookup given up on finishes in its daemon thread and its answer is dropped."""
    result: dict[str, list[str] | BaseException] = {}

    def lookup() -> None:
        try:
            result["addresses"] = resolve(host, port)
        except BaseException as error:  # reported to the caller's thread
            result["error"] = error

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    if "addresses" not in result:
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    return list(result["addresses"])  # type: ignore[arg-type]


def checked_addresses(url: str, *, allow_private: bool = False, resolve: Resolver = resolve_host,
                      timeout_s: float = 5.0) -> list[str]:
    """The addresses to connect to for ``url``, IPv4 first (a Lambda function outside a VPC has no IPv6 route), in
    the resolver's order otherwise. Every address its host resolves to must be public (no loopback, private,
    link-local such as 169.254.169.254, multicast, reserved or unspecified addresses), and the scheme https
    (``allow_private`` lifts both rules, for the local stack).

    Raises ``UnsafeTargetError`` for a target that is not allowed, ``UnknownHostError`` (one) when the resolver
    answers that the host does not exist, and ``ResolutionError`` (a ``DeliveryError``) when it gives no answer within
    ``timeout_s`` or fails (a temporary failure: the target is neither allowed nor refused).

    Example
    -------
    >>> checked_addresses("https://hooks.example.com/x", resolve=lambda host, port: ["2606:2800::1", "93.184.216.34"])
    ['93.184.216.34', '2606:2800::1']
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise UnsafeTargetError("webhook_url must use https")
    host = parts.hostname
    if not host:
        raise UnsafeTargetError("webhook_url has no host")
    try:
        found = _resolve_within(resolve, host, parts.port or (443 if parts.scheme == "https" else 80), timeout_s)
    except UnicodeError as error:
        raise UnsafeTargetError(f"webhook_url: {host} is not a valid host name") from error
    except socket.gaierror as error:
        if error.errno in _NO_SUCH_HOST:
            raise UnknownHostError(f"webhook_url: {host} does not resolve") from error
        raise ResolutionError(f"webhook_url: {host} could not be resolved just now (DNS lookup failed)") from error
    except OSError as error:  # TimeoutError included
        raise ResolutionError(f"webhook_url: {host} could not be resolved just now (DNS lookup failed or timed "
                              "out)") from error
    if not found:
        raise UnknownHostError(f"webhook_url: {host} does not resolve")
    addresses = list(dict.fromkeys(found))
    ips = [ipaddress.ip_address(address.split("%", 1)[0]) for address in addresses]
    if not allow_private and not all(ip.is_global for ip in ips):
        raise UnsafeTargetError(f"webhook_url: {host} is a private, loopback or link-local address")
    return [address for address, _ in sorted(zip(addresses, ips, strict=True), key=lambda pair: pair[1].version)]


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTP(S) to addresses checked beforehand, tried in order until one connects before ``deadline`` (a monotonic
    time), with the URL's host for TLS (SNI, certificate) and ``Host``."""

    def __init__(self, host: str, port: int | None, addresses: list[str], deadline: float, tls: bool) -> None:
        super().__init__(host, port or (443 if tls else 80), timeout=max(deadline - time.monotonic(), 0.001))
        self._addresses, self._deadline = addresses, deadline
        self._tls = ssl.create_default_context() if tls else None

    def connect(self) -> None:
        failure: OSError = TimeoutError("no address connected before the deadline")
        for index, address in enumerate(self._addresses):
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                break
            try:  # an address that does not answer leaves the next ones their share of the time left
                sock = socket.create_connection((address, self.port), remaining / (len(self._addresses) - index))
            except OSError as error:
                failure = error
                continue
            sock.settimeout(max(self._deadline - time.monotonic(), 0.001))
            try:
                self.sock = self._tls.wrap_socket(sock, server_hostname=self.host) if self._tls else sock
            except BaseException:
                sock.close()
                raise
            return
        raise failure


def post_once(url: str, body: bytes, headers: dict[str, str], addresses: list[str], deadline_s: float,
              deadline: float | None = None) -> int:
    """One POST to ``url`` through the first of ``addresses`` that connects: no redirects followed, and
    ``deadline_s`` for the whole exchange, or until ``deadline`` (a ``time.monotonic()`` time) when given (a receiver
    that trickles its answer is cut off, whatever each read takes). Returns the status code."""
    parts = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + deadline_s if deadline is None else deadline
    connection = _PinnedConnection(parts.hostname or "", parts.port, addresses, deadline,
                                   parts.scheme == "https")
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
    thread.join(max(deadline - time.monotonic(), 0.0))
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


def deliver(url: str, body: bytes, secret: str, *, timeout_s: float = 5.0, allow_private: bool = False,
            resolve: Resolver = resolve_host) -> None:
    """One signed POST of ``body`` to ``url``; returns on a 2xx answer.

    The target is checked (``checked_addresses``) and the connection goes to an address that was checked (IPv4
    first; the next one when connecting fails); redirects are not followed; ``timeout_s`` bounds the whole attempt,
    the DNS lookup included. Raises ``UnsafeTargetError`` when the target is not allowed (retrying cannot help) and
    ``DeliveryError`` when this attempt failed (retrying may): a resolver that gave no answer, and a host that no
    longer resolves (it did when the job was submitted: a DNS change or outage, so the queue's retries and its DLQ
    keep the event). Retries are the caller's: the webhook function gets one attempt per queue delivery.
    """
    deadline = time.monotonic() + timeout_s
    try:
        addresses = checked_addresses(url, allow_private=allow_private, resolve=resolve, timeout_s=timeout_s)
    except UnknownHostError as unknown:
        raise DeliveryError(str(unknown)) from unknown
    headers = {"Content-Type": "application/json", "User-Agent": "diffrhythm-service-webhook/1",
               SIGNATURE_HEADER: sign(secret, body)}
    try:
        status = post_once(url, body, headers, addresses, timeout_s, deadline)
    except (OSError, http.client.HTTPException, ssl.SSLError) as failure:  # TimeoutError is an OSError
        raise DeliveryError(f"{type(failure).__name__}: {failure}") from failure
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else ""))
