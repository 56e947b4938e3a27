"""SageMaker asynchronous inference: the same image serves ``GET /ping`` and ``POST /invocations`` on port 8080.

The async endpoint reads the invocation's input from S3 and posts it here: a job message (``shared.records.
JobMessage`` JSON, whose ``request_key`` locates the request in the bucket). The job runs exactly as from SQS (claim,
progress, outputs and manifest under ``outputs/{job_id}/``, so the status function completes it); the response, which
SageMaker stores at the endpoint's output location, is the outcome and the manifest key.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from inference_container.worker.loop import Outcome, Worker, logger
from shared import keys


def reply_for(outcome: Outcome, body: str) -> tuple[HTTPStatus, dict[str, Any]]:
    """The invocation's answer. A job that must run again (``retry``, ``handed_back``, ``abandoned``) is a 503, so
    the endpoint reports the invocation as failed (its error notification) instead of storing a success for an
    unfinished job."""
    if outcome is Outcome.UNREADABLE:
        return HTTPStatus.BAD_REQUEST, {"detail": "the body must be a job message (JSON)", "outcome": outcome}
    job_id = str(json.loads(body).get("job_id", ""))
    answer = {"outcome": outcome, "job_id": job_id,
              "manifest_key": keys.manifest_key(job_id) if outcome is Outcome.COMPLETED else None}
    return (HTTPStatus.OK if outcome.finished else HTTPStatus.SERVICE_UNAVAILABLE), answer


def ping(worker: Worker) -> tuple[HTTPStatus, dict[str, Any]]:
    """``GET /ping``: healthy unless the job in hand has made no progress for ``stall_s`` (the watchdog)."""
    if worker.timer.stalled():
        return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "stalled", "device": worker.device}
    return HTTPStatus.OK, {"status": "healthy", "device": worker.device}


def make_server(worker: Worker, host: str = "0.0.0.0", port: int = 8080) -> ThreadingHTTPServer:
    """An HTTP server for the SageMaker container contract, running jobs one at a time through ``worker``."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path == "/ping":
                self._reply(*ping(worker))
            else:
                self._reply(HTTPStatus.NOT_FOUND, {"detail": "not found"})

        def do_POST(self) -> None:
            if self.path != "/invocations":
                self._reply(HTTPStatus.NOT_FOUND, {"detail": "not found"})
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            outcome = worker.handle_payload(body)
            self._reply(*reply_for(outcome, body))

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format % args)

    return ThreadingHTTPServer((host, port), Handler)
