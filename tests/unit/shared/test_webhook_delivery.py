"""Webhook delivery against real local receivers: no redirects, one deadline per attempt, targets checked at send."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.webhooks import (
    SIGNATURE_HEADER,
    DeliveryError,
    SignatureError,
    UnknownHostError,
    UnsafeTargetError,
    checked_addresses,
    deliver,
    verify,
)

pytestmark = pytest.mark.slow  # local sockets and threads


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: str, redirect_to: str = "") -> None:
        self.behaviour, self.redirect_to, self.requests = behaviour, redirect_to, 0
        self.received: list[tuple[bytes, str | None]] = []  # each request's body and signature header
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1
        self.server.received.append((body, self.headers.get(SIGNATURE_HEADER)))
        if self.server.behaviour == "redirect":
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.end_headers()
        elif self.server.behaviour == "trickle":  # a status line one byte at a time, forever
            for byte in b"HTTP/1.1 200 OK\r\n" * 1000:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
        else:
            self.send_response(204)
            self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(server: _Receiver) -> _Receiver:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def receivers() -> Iterator[list[_Receiver]]:
    started: list[_Receiver] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def test_a_redirect_is_a_failure_and_is_not_followed(receivers):
    target = _serve(_Receiver("ok"))
    redirecting = _serve(_Receiver("redirect", redirect_to=target.url))
    receivers += [target, redirecting]
    with pytest.raises(DeliveryError, match="HTTP 302"):
        deliver(redirecting.url, b"{}", "secret", allow_private=True)
    assert redirecting.requests == 1 and target.requests == 0


def test_a_receiver_that_trickles_its_answer_is_cut_off_by_one_deadline(receivers):
    slow = _serve(_Receiver("trickle"))
    receivers.append(slow)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match="no answer within 1 s"):
        deliver(slow.url, b"{}", "secret", timeout_s=1.0, allow_private=True)
    assert time.monotonic() - started < 3


def test_a_public_receiver_gets_the_signed_body_in_one_attempt(receivers):
    ok = _serve(_Receiver("ok"))
    receivers.append(ok)
    body = b'{"event": "job.completed", "event_id": "e-1"}'
    deliver(ok.url, body, "secret", allow_private=True)
    assert ok.requests == 1
    [(received, signature)] = ok.received
    assert received == body
    verify("secret", received, signature)  # what a receiver runs
    with pytest.raises(SignatureError):
        verify("other-secret", received, signature)


def test_ipv4_addresses_are_tried_first_and_the_next_one_when_connecting_fails(receivers, monkeypatch):
    """A host with IPv6 and IPv4 addresses: IPv4 first (no IPv6 route from a Lambda function outside a VPC); an
    address that refuses the connection (nothing listens on 127.0.0.2) passes to the next, in the same attempt."""
    ok = _serve(_Receiver("ok"))
    receivers.append(ok)
    tried: list[str] = []
    connect = socket.create_connection

    def recording(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        tried.append(address[0])
        return connect(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", recording)
    addresses = ["::1", "127.0.0.2", "127.0.0.1"]
    deliver(f"http://receiver.test:{ok.server_port}/hook", b"{}", "secret", allow_private=True,
            resolve=lambda host, port: addresses)
    assert tried == ["127.0.0.2", "127.0.0.1"] and ok.requests == 1


def test_a_slow_resolver_is_cut_off_by_the_attempts_deadline():
    def slow(host: str, port: int) -> list[str]:
        time.sleep(3)
        return ["93.184.216.34"]

    started = time.monotonic()
    with pytest.raises(DeliveryError, match="could not be resolved"):
        deliver("https://slow.example.com/hook", b"{}", "secret", timeout_s=0.5, resolve=slow)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("failure", [socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
                                     socket.gaierror(socket.EAI_FAIL, "Non-recoverable failure in name resolution"),
                                     TimeoutError("timed out"), OSError("Network is unreachable")])
def test_a_resolver_that_gives_no_answer_is_a_retryable_failure_not_an_unsafe_target(failure):
    def failing(host: str, port: int) -> list[str]:
        raise failure

    with pytest.raises(DeliveryError, match="could not be resolved") as raised:
        deliver("https://hooks.example.com/hook", b"{}", "secret", resolve=failing)
    assert not isinstance(raised.value, UnsafeTargetError)


def test_a_host_that_does_not_exist_is_refused_by_the_check_and_retried_at_send():
    def nxdomain(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UnknownHostError, match="does not resolve"):  # at submit: a 400
        checked_addresses("https://gone.example.com/hook", resolve=nxdomain)
    with pytest.raises(DeliveryError, match="does not resolve"):  # at send it resolved once: retried
        deliver("https://gone.example.com/hook", b"{}", "secret", resolve=nxdomain)


def test_a_receiver_that_is_down_is_a_retryable_failure():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    with pytest.raises(DeliveryError, match="ConnectionRefusedError"):
        deliver(url, b"{}", "secret", allow_private=True)


def test_a_private_target_is_refused_at_send_without_connecting(monkeypatch):
    def no_connection(*args: object, **kwargs: object) -> socket.socket:
        raise AssertionError("connected to a refused target")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    for url in ("https://127.0.0.1/hook", "https://169.254.169.254/latest/meta-data", "http://93.184.216.34/x"):
        with pytest.raises(UnsafeTargetError, match=r"private|https"):
            deliver(url, b"{}", "secret")
