"""Webhook delivery against real local receivers: no redirects, one deadline per attempt, targets checked at send."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.webhooks import DeliveryError, UnsafeTargetError, deliver

pytestmark = pytest.mark.slow  # local sockets and threads


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: str, redirect_to: str = "") -> None:
        self.behaviour, self.redirect_to, self.requests = behaviour, redirect_to, 0
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests += 1
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
    deliver(ok.url, b"{}", "secret", allow_private=True)
    assert ok.requests == 1


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
