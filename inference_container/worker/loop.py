"""The worker loop: long-poll SQS, claim the job in DynamoDB, keep the message invisible while working, write the
outputs, delete the message.

Outcomes of one message:

- the job is unknown, final or cancelled -> delete the message, generate nothing (re-deliveries are harmless);
- success -> outputs then manifest in S3, delete the message;
- a permanent failure (bad lyrics, unusable reference clip, silent output) -> failure record, delete the message;
- anything else (a transient error) -> record it on the job, let the message come back after ``retry_delay_s``;
  after the queue's maxReceiveCount it is dead-lettered and the job fails with the last error;
- cancelled while running -> stop at the next step, delete the message;
- SIGTERM -> take no new message; finish within ``grace_s`` or hand the job back (visibility 0).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from inference_container.worker.job import JobFailedError, JobRunner
from inference_container.worker.settings import WorkerSettings
from shared.jobs import JobStore
from shared.records import JobMessage, utcnow
from shared.states import JobState

logger = Logger(service="worker")
metrics = Metrics(namespace="DiffRhythm", service="worker")


class _Cancelled(Exception):
    pass


class _HandBack(Exception):
    pass


def _protect_task(enabled: bool) -> None:
    """ECS task scale-in protection while a job is in hand (no-op outside ECS)."""
    agent = os.environ.get("ECS_AGENT_URI")
    if not agent:
        return
    body = json.dumps({"ProtectionEnabled": enabled, **({"ExpiresInMinutes": 120} if enabled else {})}).encode()
    request = urllib.request.Request(f"{agent}/task-protection/v1/state", data=body, method="PUT",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except OSError:
        logger.warning("task protection call failed", extra={"enabled": enabled})


@dataclass
class Worker:
    """Processes job messages one at a time. ``stats`` counts outcomes (for tests and logs)."""

    settings: WorkerSettings
    runner: JobRunner
    store: JobStore
    sqs: Any
    device: str = "cpu"
    retry_delay_s: int = 30
    stats: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _deadline: float | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: stop taking messages, finish or hand back the job in hand within ``grace_s``."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())

    def stop(self, grace_s: float | None = None) -> None:
        """Ask the worker to stop; the job in hand gets ``grace_s`` (default: the setting) to finish."""
        self._deadline = time.monotonic() + (self.settings.grace_s if grace_s is None else grace_s)
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, max_messages: int | None = None) -> None:
        """Poll until stopped (or ``max_messages`` handled)."""
        handled = 0
        from inference_container.worker.health import HEALTH_FILE

        while not self.stopping and (max_messages is None or handled < max_messages):
            self.store.heartbeat(self.device)
            Path(HEALTH_FILE).touch()
            response = self.sqs.receive_message(
                QueueUrl=self.settings.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=self.settings.poll_wait_s,
                VisibilityTimeout=self.settings.visibility_s, AttributeNames=["ApproximateReceiveCount"])
            for message in response.get("Messages", []):
                self.handle(message)
                handled += 1

    # -- one message -----------------------------------------------------------------------------------------------
    def handle(self, message: dict[str, Any]) -> str:
        """Process one SQS message; returns the outcome's name."""
        outcome = self._handle(message)
        self.stats[outcome] = self.stats.get(outcome, 0) + 1
        logger.info("message handled", extra={"outcome": outcome})
        return outcome

    def handle_payload(self, body: str) -> str:
        """Process a job message that did not come from SQS (SageMaker async invocations): no visibility to keep."""
        with self._lock:
            return self.handle({"Body": body, "ReceiptHandle": None})

    def _delete(self, message: dict[str, Any]) -> None:
        if message["ReceiptHandle"] is not None:
            self.sqs.delete_message(QueueUrl=self.settings.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _visibility(self, message: dict[str, Any], seconds: int) -> None:
        if message["ReceiptHandle"] is not None:
            self.sqs.change_message_visibility(QueueUrl=self.settings.queue_url,
                                               ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=seconds)

    def _handle(self, message: dict[str, Any]) -> str:
        try:
            job_message = JobMessage.model_validate_json(message["Body"])
        except ValidationError:
            logger.error("unreadable message left for the dead-letter queue", extra={"body": message["Body"][:300]})
            return "unreadable"
        job = self.store.get(job_message.job_id)
        if job is None or job.status.is_final:
            self._delete(message)
            return "skipped"
        claimed = self.store.transition(job.job_id, JobState.RUNNING, started_at=job.started_at or utcnow(),
                                        attempts=job.attempts + 1, progress_stage="starting", progress_percent=0.0)
        if claimed is None:  # it became final in between (cancelled)
            self._delete(message)
            return "skipped"
        beat = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(message, beat), daemon=True)
        heart.start()
        _protect_task(True)
        try:
            return self._run(job.job_id, job_message, message)
        finally:
            beat.set()
            heart.join()
            _protect_task(False)

    def _run(self, job_id: str, job_message: JobMessage, message: dict[str, Any]) -> str:
        try:
            request = self.runner.load_request(job_message.request_key)
            manifest = self.runner.run(request, self._progress(job_id))
        except JobFailedError as failure:
            self.runner.fail(job_id, failure.reason, "invalid_input")
            self._delete(message)
            return "failed"
        except _Cancelled:
            self._delete(message)
            return "cancelled"
        except _HandBack:
            self._visibility(message, 0)
            return "handed_back"
        except Exception as error:
            logger.exception("transient failure; the message will come back", extra={"job_id": job_id})
            self.store.set_fields(job_id, only_if=JobState.RUNNING, error=f"{type(error).__name__}: {error}"[:500])
            self._visibility(message, self.retry_delay_s)
            return "retry"
        self._delete(message)
        self._record_metrics(manifest.metadata, request.batch_size)
        return "completed"

    def _record_metrics(self, metadata: dict[str, Any], songs: int) -> None:
        """Job latency and GPU seconds per song, as CloudWatch embedded metrics in the log."""
        timings = metadata.get("timings", {})
        gpu_seconds = float(timings.get("sampling_s", 0)) + float(timings.get("decoding_s", 0))
        metrics.add_metric(name="JobSeconds", unit=MetricUnit.Seconds, value=float(metadata.get("job_seconds", 0)))
        metrics.add_metric(name="GpuSecondsPerSong", unit=MetricUnit.Seconds, value=gpu_seconds / max(songs, 1))
        metrics.flush_metrics()

    def _heartbeat(self, message: dict[str, Any], done: threading.Event) -> None:
        """Keep the message invisible while the job runs (so no other worker takes it)."""
        while not done.wait(self.settings.heartbeat_s):
            try:
                self._visibility(message, self.settings.visibility_s)
                self.store.heartbeat(self.device)
            except Exception:  # the next beat tries again; the visibility window covers a missed one
                logger.exception("heartbeat failed")

    def _progress(self, job_id: str) -> Any:
        last = {"stage": "", "at": 0.0}

        def report(stage: str, percent: float) -> None:
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise _HandBack
            now = time.monotonic()
            if stage == last["stage"] and now - last["at"] < self.settings.progress_interval_s:
                return
            last.update(stage=stage, at=now)
            if not self.store.set_fields(job_id, only_if=JobState.RUNNING, progress_stage=stage,
                                         progress_percent=round(percent, 1)):
                raise _Cancelled

        return report
