"""Fixtures of the control-plane tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class _Receiver(BaseHTTPRequestHandler):
    calls: list[tuple[Any, bytes]]
    fail_first: int

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.calls.append((self.headers, body))  # case-insensitive lookups
        status = 503 if len(self.calls) <= self.fail_first else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    """A webhook receiver on 127.0.0.1: its URL, and its handler class (``calls``; it answers 503 to the first
    ``fail_first`` calls, 1 unless a test changes it)."""
    from infrastructure.local.stack import free_port  # imported late: importing the stack sets its environment

    handler = type("Receiver", (_Receiver,), {"calls": [], "fail_first": 1})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", handler
    server.shutdown()
