"""What becomes of one message, and the writes and message calls that settle it.

Outcomes of one message:

- the job is unknown, final or cancelled -> delete the message, generate nothing (re-deliveries are harmless);
- its manifest is written already (a worker died before deleting the message, and the status event is late or lost)
  -> delete the message, generate nothing; the status function or the reconciler completes it;
- success -> outputs then manifest in S3, delete the message;
- a permanent failure (bad lyrics, unusable reference clip, silent output) -> failure record, delete the message;
- anything else (a transient error) -> record it on the job, let the message come back after ``retry_delay_s``;
  after the queue's maxReceiveCount it is dead-lettered and the job fails with the last error;
- cancelled while running -> stop at the next step, delete the message;
- running longer than ``max_run_s`` -> stop at the next step, failure record (``timed_out``), delete the message;
- no progress for ``stall_s`` (a hung GPU call) -> the heartbeat stops renewing the leases and the messages' visibility
  and the health check reports unhealthy: the job comes back to another worker (SQS, or the reconciler), ECS replaces
  this task; should the call ever return, the job is dropped untouched (``abandoned``);
- SIGTERM -> take no new message; finish within ``grace_s`` or hand the job back (visibility 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from inference_container.worker.control import Stop
from inference_container.worker.job import JobRunner
from inference_container.worker.lease import Claimed, Fence, LeaseKeeper
from inference_container.worker.log import logger
from inference_container.worker.metrics import record_job
from inference_container.worker.transport import Message, Transport
from inference_container.worker.watchdog import Watchdog
from shared.records import FailureCode, utcnow


class Outcome(StrEnum):
    """What became of one message; both transports act on it (the SQS loop, and the SageMaker handler's reply)."""

    COMPLETED = "completed"  # outputs and manifest written, message deleted
    FAILED = "failed"  # the user's input cannot be generated: failure record written, message deleted
    TIMED_OUT = "timed_out"  # ran longer than ``max_run_s``: failure record written, message deleted
    CANCELLED = "cancelled"  # cancelled before or while it ran: message deleted
    SKIPPED = "skipped"  # unknown or already final (a re-delivery): message deleted
    RETRY = "retry"  # not the user's fault: the message comes back after ``retry_delay_s``
    LEASED = "leased"  # another worker holds the job (a duplicate delivery): the message comes back after its lease
    HANDED_BACK = "handed_back"  # the worker is stopping: the message is visible again at once
    UNREADABLE = "unreadable"  # not a job message: left for the dead-letter queue
    ABANDONED = "abandoned"  # stalled or taken over: its lease and message are left to lapse or to their new holder

    @property
    def finished(self) -> bool:
        """Whether the job needs no further delivery."""
        return self not in (Outcome.RETRY, Outcome.LEASED, Outcome.HANDED_BACK, Outcome.UNREADABLE,
                            Outcome.ABANDONED)


def plain_reason(error: BaseException) -> str:
    """What a user may read about an error that is not theirs: its kind in plain words, never its text (which can
    carry ARNs, paths or driver output; the log has it, under the job id)."""
    text = str(error).lower()
    if "out of memory" in text or type(error).__name__ == "OutOfMemoryError":
        return "the GPU ran out of memory"
    if isinstance(error, BotoCoreError | ClientError):
        return "a storage or queue service did not answer in time"
    return "an internal error interrupted generation"


@dataclass
class Settlement:
    """Settles jobs: fail, retry, hand back, cancel, abandon or deliver, each answering the job's ``Outcome``."""

    runner: JobRunner
    leases: LeaseKeeper
    transport: Transport
    timer: Watchdog
    retry_delay_s: int

    def fail(self, claimed: Claimed, reason: str, code: FailureCode, outcome: Outcome = Outcome.FAILED) -> Outcome:
        """``fail_job`` for a claimed job."""
        return self.fail_job(claimed.job_id, claimed.message, claimed.token, reason, code, outcome)

    def fail_job(self, job_id: str, message: Message, token: str, reason: str, code: FailureCode,
                 outcome: Outcome = Outcome.FAILED) -> Outcome:
        """Fail a job for good (its failure record) and delete its message; if the record cannot be written, the
        message comes back and the next attempt writes it."""
        try:
            self.runner.fail(job_id, reason, code)
        except Exception as error:
            return self.retry(job_id, message, error, token)
        self.leases.release(token)
        self.transport.delete(message)
        return outcome

    def retry(self, job_id: str, message: Message, error: Exception, token: str | None,
              claimed: Claimed | None = None) -> Outcome:
        """Let the message come back after ``retry_delay_s``. The claim ``token`` (None: this worker has none) ends
        its lease and records the error; a lease that is not this claim's (another worker's) is left alone. A
        ``claimed`` job found taken over by then is dropped untouched instead."""
        logger.exception("transient failure; the message will come back", extra={"job_id": job_id})
        if token is not None:
            written = self.leases.release_with("recording the error", job_id, token,
                                               error=f"{plain_reason(error)}; it will be retried", lease_until=utcnow())
            if written is Fence.REFUSED and claimed is not None and self.leases.taken_over(claimed):
                return self.abandon([claimed])[claimed]
        self.transport.visibility(message, self.retry_delay_s)
        return Outcome.RETRY

    def retry_claim(self, claimed: Claimed, error: Exception) -> Outcome:
        """``retry`` for a claimed job."""
        return self.retry(claimed.job_id, claimed.message, error, claimed.token, claimed)

    def hand_back(self, claimed: Claimed) -> Outcome:
        """End the claim's lease first (the next worker may claim it at once), then make its message visible; a job
        found taken over by then is dropped untouched instead."""
        written = self.leases.release_with("releasing the lease", claimed.job_id, claimed.token, lease_until=utcnow())
        if written is Fence.REFUSED and self.leases.taken_over(claimed):
            return self.abandon([claimed])[claimed]
        self.transport.visibility(claimed.message, 0)
        return Outcome.HANDED_BACK

    def cancelled(self, claimed: Claimed) -> Outcome:
        self.leases.release(claimed.token)
        self.transport.delete(claimed.message)
        return Outcome.CANCELLED

    def unless_gone(self, claimed: Claimed, settle: Callable[[Claimed], Outcome]) -> Outcome:
        """``settle(claimed)`` while the job is still this worker's; dropped untouched (``abandon``) once gone."""
        return self.abandon([claimed])[claimed] if self.leases.gone(claimed) else settle(claimed)

    def abandon(self, group: list[Claimed]) -> dict[Claimed, Outcome]:
        """Drop jobs whose leases lapsed while stalled or that another claim took over: no write, no message call
        (another worker may hold them)."""
        logger.error("jobs dropped untouched: stalled or taken over; their messages are left to other workers",
                     extra={"job_ids": [c.job_id for c in group],
                            "taken_over": [c.job_id for c in group if self.leases.lost(c)]})
        for claimed in group:
            self.leases.release(claimed.token)
        return dict.fromkeys(group, Outcome.ABANDONED)

    def stopped(self, group: list[Claimed], stop: Stop, cancelled: set[str]) -> dict[Claimed, Outcome]:
        """Settle a group that stopped early (``control.Stopped``); ``cancelled``: its jobs found cancelled."""
        if stop is Stop.ABANDONED:
            return self.abandon(group)
        if stop is Stop.CANCELLED:
            return {c: self.unless_gone(c, self.cancelled) for c in group}
        if stop is Stop.HANDED_BACK:
            return {c: self.unless_gone(c, self.hand_back) for c in group}
        reason = f"generation took longer than {self.timer.run_time_words()}"
        logger.error("job group ran past max_run_s", extra={"job_ids": [c.job_id for c in group]})
        timed_out = partial(self.fail, reason=reason, code="timed_out", outcome=Outcome.TIMED_OUT)
        return {c: self.unless_gone(c, self.cancelled if c.job_id in cancelled else timed_out) for c in group}

    def deliver(self, claimed: Claimed, song: Any, started: float) -> Outcome:
        """Upload a job's outputs (manifest last) and delete its message; an upload that fails retries that job.

        Fenced: the lease is renewed under this claim's token first, so outputs are never written for a job another
        worker claimed meanwhile (its renewals may have failed unnoticed for longer than the lease): such a job is
        dropped untouched, and a job whose renewal cannot be written now comes back rather than risk a second set of
        outputs."""
        self.timer.step()  # an upload is progress too
        fenced = self.leases.renew(claimed, "renewing the lease before the upload")
        if fenced is Fence.REFUSED:  # taken over, re-queued, or final (cancelled): its message is not ours to settle
            return self.abandon([claimed])[claimed]
        if fenced is Fence.UNKNOWN:
            return self.retry_claim(claimed, RuntimeError("the lease could not be renewed before the upload"))
        try:
            manifest = self.runner.upload(claimed.request, song, time.perf_counter() - started)
        except Exception as error:  # this job comes back; its neighbours' songs are still delivered
            return self.retry_claim(claimed, error)
        record_job(manifest.metadata, claimed.request.batch_size)
        self.leases.release(claimed.token)
        self.transport.delete(claimed.message)
        return Outcome.COMPLETED
