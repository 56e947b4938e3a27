"""The worker loop: long-poll SQS, claim the job in DynamoDB, keep the message invisible while working, write the
outputs, delete the message.

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

A job given back (retry, hand-back) keeps a lease that ends at once, never none: should its message be lost, the
reconciler sees a lease that ended long ago and re-queues the job.

Every claim carries a token unique to it (``lease_owner``: this worker's id and a counter), and every later lease
write of the worker (renewal, release, progress) holds only while the job is still that claim's. A worker that fails
before or at its claim (a throttled read of a duplicate delivery) leaves the holder's lease alone; a worker whose
renewal finds another claim on its job (its lease lapsed and another worker took it, or the reconciler re-queued it)
stops renewing it and drops it untouched (``abandoned``): no outputs, no message call.

At most ``max_rows`` rows (variations) go into one sampling call: compatible jobs are grouped up to that many, and a
job with more variations is sampled in several calls (``JobRunner.generate``).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from inference_container.diffrhythm.pipeline import SongRequest
from inference_container.errors import InputError
from inference_container.worker import health
from inference_container.worker.job import JobRunner
from inference_container.worker.settings import WorkerSettings
from inference_container.worker.watchdog import Watchdog
from shared.ports import JobTable
from shared.records import FailureCode, JobMessage, JobRequestRecord, utcnow
from shared.states import JobState

logger = Logger(service="worker")
metrics = Metrics(namespace="DiffRhythm", service="worker")


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


class _Cancelled(Exception):
    pass


class _HandBack(Exception):
    pass


class _TimedOut(Exception):
    pass


class _Abandoned(Exception):
    pass


@dataclass(frozen=True, eq=False)
class _Claimed:
    """A job this worker moved to RUNNING, with its message, request and the claim's ``lease_owner`` token."""

    message: dict[str, Any]
    request: JobRequestRecord
    song: SongRequest
    token: str

    @property
    def job_id(self) -> str:
        return self.request.job_id


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
    """Processes job messages one batch at a time. ``stats`` counts outcomes (for tests and logs); ``watchdog``
    times progress (built from the settings unless given); ``worker_id`` starts the token of each of its claims."""

    settings: WorkerSettings
    runner: JobRunner
    store: JobTable
    sqs: Any
    device: str = "cpu"
    retry_delay_s: int = 30
    stats: dict[str, int] = field(default_factory=dict)
    watchdog: Watchdog | None = None
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _claims: Iterator[int] = field(default_factory=itertools.count)  # numbers this worker's claims
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _leases: threading.Lock = field(default_factory=threading.Lock)  # renewals never follow a release
    _held: dict[str, _Claimed] = field(default_factory=dict)  # token -> claimed job, renewed by the heartbeat
    _abandoned: threading.Event = field(default_factory=threading.Event)  # the jobs in hand stalled
    _lost: set[str] = field(default_factory=set)  # tokens of claims another claim has replaced
    _deadline: float | None = None

    def __post_init__(self) -> None:
        if self.watchdog is None:
            self.watchdog = Watchdog(self.settings.stall_s, self.settings.max_run_s)

    @property
    def timer(self) -> Watchdog:
        """The watchdog (always set after construction)."""
        assert self.watchdog is not None
        return self.watchdog

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
        self.timer.health_file = health.HEALTH_FILE
        failures = 0
        while not self.stopping and (max_messages is None or handled < max_messages):
            self._best_effort("worker heartbeat", self.store.heartbeat, self.device)
            self._best_effort("writing the health file", self.timer.polled)
            try:
                response = self.sqs.receive_message(
                    QueueUrl=self.settings.queue_url, MaxNumberOfMessages=self.settings.max_batch,
                    WaitTimeSeconds=self.settings.poll_wait_s, VisibilityTimeout=self.settings.visibility_s,
                    AttributeNames=["ApproximateReceiveCount"])
            except Exception:  # a throttled or unreachable queue: back off and poll again, models stay loaded
                failures += 1
                delay = min(self.settings.backoff_max_s, self.settings.backoff_s * 2 ** (failures - 1))
                logger.exception("receiving failed; backing off", extra={"delay_s": delay})
                self._stop.wait(delay)
                continue
            failures = 0
            messages = response.get("Messages", [])
            if self.stopping:  # stopped during the long poll: what arrived goes back untouched, unclaimed
                for message in messages:
                    self._visibility(message, 0)
                break
            if messages:
                self.handle_many(messages)
                handled += len(messages)

    # -- messages --------------------------------------------------------------------------------------------------
    def handle(self, message: dict[str, Any]) -> Outcome:
        """Process one SQS message; returns the outcome's name."""
        return self.handle_many([message])[0]

    def handle_many(self, messages: list[dict[str, Any]]) -> list[Outcome]:
        """Claim the messages' jobs, then generate those that can share a sampling batch together (at most
        ``max_rows`` rows per group). One heartbeat renews every claimed job until its outcome is known."""
        outcomes: dict[int, Outcome] = {}
        self._abandoned.clear()
        self._lost.clear()
        self.timer.begin()
        try:
            claims = []
            for message in messages:
                claimed = self._claim(message)
                if isinstance(claimed, Outcome):
                    outcomes[id(message)] = claimed
                else:
                    claims.append(claimed)
            if claims:
                for claimed, outcome in self._run_all(claims).items():
                    outcomes[id(claimed.message)] = outcome
        finally:
            self.timer.end()
        for outcome in outcomes.values():
            self.stats[outcome] = self.stats.get(outcome, 0) + 1
        logger.info("messages handled", extra={"outcomes": list(outcomes.values())})
        return [outcomes[id(m)] for m in messages]

    def handle_payload(self, body: str) -> Outcome:
        """Process a job message that did not come from SQS (SageMaker async invocations): no visibility to keep."""
        with self._lock:
            return self.handle({"Body": body, "ReceiptHandle": None})

    @staticmethod
    def _best_effort(what: str, action: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``action``; a failure is logged, not raised (what it guards is retried or covered another way)."""
        try:
            return action(*args, **kwargs)
        except Exception:
            logger.exception(f"{what} failed")
            return None

    def _delete(self, message: dict[str, Any]) -> None:
        """Delete a handled message; if that fails, its re-delivery is skipped (the job is final by then)."""
        if message["ReceiptHandle"] is not None:
            self._best_effort("deleting a message", self.sqs.delete_message, QueueUrl=self.settings.queue_url,
                              ReceiptHandle=message["ReceiptHandle"])

    def _visibility(self, message: dict[str, Any], seconds: int) -> None:
        """Change a message's visibility; if that fails, it comes back when its current window ends."""
        if message["ReceiptHandle"] is not None:
            self._best_effort("changing a message's visibility", self.sqs.change_message_visibility,
                              QueueUrl=self.settings.queue_url, ReceiptHandle=message["ReceiptHandle"],
                              VisibilityTimeout=seconds)

    def _claim(self, message: dict[str, Any]) -> _Claimed | Outcome:
        """Move the job to RUNNING and read its request; or the outcome when there is nothing to generate."""
        try:
            job_message = JobMessage.model_validate_json(message["Body"])
        except ValidationError:
            logger.error("unreadable message left for the dead-letter queue", extra={"body": message["Body"][:300]})
            return Outcome.UNREADABLE
        token, tried = f"{self.worker_id}/{next(self._claims)}", None
        try:
            job = self.store.get(job_message.job_id)
            if job is None or job.status.is_final:
                self._delete(message)
                return Outcome.SKIPPED
            now, tried = utcnow(), token
            claimed = self.store.claim(job.job_id, now, self._lease_end(now), lease_owner=token,
                                       started_at=job.started_at or now, attempts=job.attempts + 1,
                                       progress_stage="starting", progress_percent=0.0)
            current = self.store.get(job.job_id) if claimed is None else claimed
        except Exception as error:  # the table is throttled or unreachable: the message comes back later; the lease
            # is left to its holder, unless a claim of ours landed before the error (then its own token releases it)
            return self._retry(job_message.job_id, message, error, tried)
        if current is None or current.status.is_final:  # it became final in between (cancelled)
            self._delete(message)
            return Outcome.SKIPPED
        if claimed is None and current.lease_owner == token:  # ours: an earlier try of the same call wrote it
            claimed = current
        if claimed is None:  # another worker's lease holds: come back when it ends (or to find the job final)
            ends = current.lease_until or utcnow()
            self._visibility(message, max(1, min(self.settings.visibility_s, int((ends - utcnow()).total_seconds()))))
            return Outcome.LEASED
        try:
            if self.runner.delivered(job.job_id):  # done before: its status event is still on its way
                logger.warning("job already delivered; its message is dropped", extra={"job_id": job.job_id})
                self._best_effort("ending the lease", self._as_holder, job.job_id, token, lease_until=utcnow())
                self._delete(message)
                return Outcome.SKIPPED
            request = self.runner.load_request(job_message.request_key)
            return _Claimed(message, request, self.runner.song_request(request), token)
        except InputError as refused:
            return self._fail_job(job.job_id, message, token, str(refused), "invalid_input")
        except Exception as error:
            return self._retry(job.job_id, message, error, token)

    def _fail(self, claimed: _Claimed, reason: str, code: FailureCode, outcome: Outcome = Outcome.FAILED) -> Outcome:
        """``_fail_job`` for a claimed job."""
        return self._fail_job(claimed.job_id, claimed.message, claimed.token, reason, code, outcome)

    def _fail_job(self, job_id: str, message: dict[str, Any], token: str, reason: str, code: FailureCode,
                  outcome: Outcome = Outcome.FAILED) -> Outcome:
        """Fail a job for good (its failure record) and delete its message; if the record cannot be written, the
        message comes back and the next attempt writes it."""
        try:
            self.runner.fail(job_id, reason, code)
        except Exception as error:
            return self._retry(job_id, message, error, token)
        self._release(token)
        self._delete(message)
        return outcome

    def _release(self, token: str) -> None:
        """Stop renewing a claim's lease (its outcome is known)."""
        with self._leases:
            self._held.pop(token, None)

    def _retry(self, job_id: str, message: dict[str, Any], error: Exception, token: str | None,
               claimed: _Claimed | None = None) -> Outcome:
        """Let the message come back after ``retry_delay_s``. The claim ``token`` (None: this worker has none) ends
        its lease and records the error; a lease that is not this claim's (another worker's) is left alone. A
        ``claimed`` job found taken over by then is dropped untouched instead."""
        logger.exception("transient failure; the message will come back", extra={"job_id": job_id})
        if token is not None:
            with self._leases:
                self._held.pop(token, None)
                written = self._best_effort("recording the error", self._as_holder, job_id, token,
                                            error=f"{plain_reason(error)}; it will be retried", lease_until=utcnow())
            if written is False and claimed is not None and self._taken_over(claimed):
                return self._abandon([claimed])[claimed]
        self._visibility(message, self.retry_delay_s)
        return Outcome.RETRY

    def _retry_claim(self, claimed: _Claimed, error: Exception) -> Outcome:
        """``_retry`` for a claimed job."""
        return self._retry(claimed.job_id, claimed.message, error, claimed.token, claimed)

    def _groups(self, claims: list[_Claimed]) -> list[list[_Claimed]]:
        """Batch-compatible groups of at most ``max_rows`` rows (variations), in arrival order; a job with more rows
        than that is a group of its own (sampled in several calls)."""
        groups: list[list[_Claimed]] = []
        open_groups: dict[tuple[Any, ...], list[_Claimed]] = {}
        for claimed in claims:
            key = self.runner.pipeline.batch_key(claimed.song)
            group = open_groups.get(key)
            rows = claimed.song.variations
            if group is None or sum(c.song.variations for c in group) + rows > self.settings.max_rows:
                group = open_groups[key] = []
                groups.append(group)
            group.append(claimed)
        return groups

    def _run_all(self, claims: list[_Claimed]) -> dict[_Claimed, Outcome]:
        """Generate the claimed jobs group by group; the heartbeat and task protection cover them all."""
        beat = threading.Event()
        with self._leases:
            self._held.update((c.token, c) for c in claims)
        heart = threading.Thread(target=self._heartbeat, args=(beat,), daemon=True)
        heart.start()
        _protect_task(True)
        outcomes: dict[_Claimed, Outcome | Future[Outcome]] = {}
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="deliver") as deliveries:
                for group in self._groups(claims):
                    gone = [c for c in group if self._gone(c)]  # stalled with an earlier group, or taken over
                    if gone:
                        outcomes.update(self._abandon(gone))
                    if mine := [c for c in group if c not in gone]:
                        self.timer.begin()  # each group has max_run_s
                        outcomes.update(self._generate(mine, deliveries))
            return {c: o.result() if isinstance(o, Future) else o for c, o in outcomes.items()}
        finally:
            beat.set()
            heart.join()
            with self._leases:
                for claimed in claims:
                    self._held.pop(claimed.token, None)
            _protect_task(False)

    def _generate(self, group: list[_Claimed], deliveries: Executor) -> dict[_Claimed, Outcome | Future[Outcome]]:
        """Generate one group and settle each job; a job no longer this worker's is dropped (``_unless_gone``).
        Songs are delivered (encoded and uploaded) by ``deliveries`` while the next group samples."""
        cancelled: set[str] = set()
        started = time.perf_counter()
        try:
            songs = self.runner.generate([c.song for c in group], self._progress(group, cancelled),
                                         self.settings.max_rows)
        except InputError as refused:
            if len(group) > 1:  # find the job at fault: run each alone
                return {claimed: outcome for c in group
                        for claimed, outcome in self._generate([c], deliveries).items()}
            reason = str(refused)
            return {group[0]: self._unless_gone(group[0], partial(self._fail, reason=reason, code="invalid_input"))}
        except _Cancelled:
            return {c: self._unless_gone(c, self._cancelled) for c in group}
        except _TimedOut:
            reason = f"generation took longer than {self.timer.run_time_words()}"
            logger.error("job group ran past max_run_s", extra={"job_ids": [c.job_id for c in group]})
            timed_out = partial(self._fail, reason=reason, code="timed_out", outcome=Outcome.TIMED_OUT)
            return {c: self._unless_gone(c, self._cancelled if c.job_id in cancelled else timed_out) for c in group}
        except _Abandoned:
            return self._abandon(group)
        except _HandBack:
            return {c: self._unless_gone(c, self._hand_back) for c in group}
        except Exception as error:
            retry = partial(self._retry_claim, error=error)
            return {c: self._unless_gone(c, retry) for c in group}
        return {c: self._unless_gone(c, self._cancelled) if c.job_id in cancelled
                else deliveries.submit(self._unless_gone, c, partial(self._deliver, song=song, started=started))
                for c, song in zip(group, songs, strict=True)}

    def _deliver(self, claimed: _Claimed, song: Any, started: float) -> Outcome:
        """Upload a job's outputs (manifest last) and delete its message; an upload that fails retries that job.

        Fenced: the lease is renewed under this claim's token first, so outputs are never written for a job another
        worker claimed meanwhile (its renewals may have failed unnoticed for longer than the lease): such a job is
        dropped untouched, and a job whose renewal cannot be written now comes back rather than risk a second set of
        outputs."""
        self.timer.step()  # an upload is progress too
        with self._leases:
            fenced = self._best_effort("renewing the lease before the upload", self._as_holder, claimed.job_id,
                                       claimed.token, lease_until=self._lease_end(utcnow()))
        if fenced is False:  # taken over, re-queued, or final (cancelled): its message is not ours to settle
            return self._abandon([claimed])[claimed]
        if fenced is None:
            return self._retry_claim(claimed, RuntimeError("the lease could not be renewed before the upload"))
        try:
            manifest = self.runner.upload(claimed.request, song, time.perf_counter() - started)
        except Exception as error:  # this job comes back; its neighbours' songs are still delivered
            return self._retry_claim(claimed, error)
        self._record_metrics(manifest.metadata, claimed.request.batch_size)
        self._release(claimed.token)
        self._delete(claimed.message)
        return Outcome.COMPLETED

    def _hand_back(self, claimed: _Claimed) -> Outcome:
        """End the claim's lease first (the next worker may claim it at once), then make its message visible; a job
        found taken over by then is dropped untouched instead."""
        with self._leases:
            self._held.pop(claimed.token, None)
            written = self._best_effort("releasing the lease", self._as_holder, claimed.job_id, claimed.token,
                                        lease_until=utcnow())
        if written is False and self._taken_over(claimed):
            return self._abandon([claimed])[claimed]
        self._visibility(claimed.message, 0)
        return Outcome.HANDED_BACK

    def _cancelled(self, claimed: _Claimed) -> Outcome:
        self._release(claimed.token)
        self._delete(claimed.message)
        return Outcome.CANCELLED

    def _gone(self, claimed: _Claimed) -> bool:
        """Whether another worker may hold the job now: its group stalled (the leases lapsed) or another claim
        replaced this one."""
        return self._abandoned.is_set() or claimed.token in self._lost

    def _unless_gone(self, claimed: _Claimed, settle: Callable[[_Claimed], Outcome]) -> Outcome:
        """``settle(claimed)`` while the job is still this worker's; dropped untouched (``_abandon``) once gone."""
        return self._abandon([claimed])[claimed] if self._gone(claimed) else settle(claimed)

    def _abandon(self, group: list[_Claimed]) -> dict[_Claimed, Outcome]:
        """Drop jobs whose leases lapsed while stalled or that another claim took over: no write, no message call
        (another worker may hold them)."""
        logger.error("jobs dropped untouched: stalled or taken over; their messages are left to other workers",
                     extra={"job_ids": [c.job_id for c in group], "taken_over": [c.job_id for c in group
                                                                                 if c.token in self._lost]})
        for claimed in group:
            self._release(claimed.token)
        return dict.fromkeys(group, Outcome.ABANDONED)

    def _record_metrics(self, metadata: dict[str, Any], songs: int) -> None:
        """Job latency and GPU seconds per song, as CloudWatch embedded metrics in the log."""
        timings = metadata.get("timings", {})
        gpu_seconds = float(timings.get("sampling_s", 0)) + float(timings.get("decoding_s", 0))
        metrics.add_metric(name="JobSeconds", unit=MetricUnit.Seconds, value=float(metadata.get("job_seconds", 0)))
        metrics.add_metric(name="GpuSecondsPerSong", unit=MetricUnit.Seconds, value=gpu_seconds / max(songs, 1))
        if "peak_gpu_gib" in metadata:
            metrics.add_metric(name="PeakGpuMemory", unit=MetricUnit.Gigabytes, value=float(metadata["peak_gpu_gib"]))
        metrics.flush_metrics()

    def _lease_end(self, now: datetime) -> datetime:
        """A claim holds as long as the message stays invisible, and both are renewed at every heartbeat."""
        return now + timedelta(seconds=self.settings.visibility_s)

    def _heartbeat(self, done: threading.Event) -> None:
        """Every ``heartbeat_s`` until ``done``: one ``_beat``."""
        while not done.wait(self.settings.heartbeat_s):
            self._beat()

    def _beat(self) -> None:
        """Keep the jobs in hand leased and their messages invisible while they make progress (so no other worker
        takes them); once they have made none for ``stall_s``, renew nothing: leases and messages lapse, the jobs
        come back to other workers, and the health check (published here) reports this worker unhealthy. A renewal
        that finds another claim on its job ends that job's renewals (``_taken_over``)."""
        self._best_effort("writing the health file", self.timer.publish)
        if self.timer.stalled():
            if not self._abandoned.is_set():
                logger.error("no progress; leases left to lapse", extra={"stall_s": self.settings.stall_s,
                                                                          "job_ids": [c.job_id for c in
                                                                                      self._held.values()]})
            self._abandoned.set()
            return
        try:
            for claimed in list(self._held.values()):  # the lease first: it never outlives the message's
                with self._leases:  # invisibility by much
                    if claimed.token not in self._held:
                        continue  # released meanwhile (handed back, retried or finished)
                    renewed = self._as_holder(claimed.job_id, claimed.token, lease_until=self._lease_end(utcnow()))
                if not renewed and self._taken_over(claimed):
                    continue  # its message is left alone: it may be the new holder's delivery
                self._visibility(claimed.message, self.settings.visibility_s)
            self.store.heartbeat(self.device)
        except Exception:  # the next beat tries again; the visibility window covers a missed one
            logger.exception("heartbeat failed")

    def _as_holder(self, job_id: str, token: str, **fields: Any) -> bool:
        """Write ``fields`` on a job only while the claim ``token`` still holds it (RUNNING under that lease); False
        when it no longer does. Every lease, progress and error write after a claim goes through here."""
        return self.store.set_fields(job_id, only_if=JobState.RUNNING, only_if_lease_owner=token, **fields)

    def _taken_over(self, claimed: _Claimed) -> bool:
        """After a lease write of ``claimed`` failed its condition: whether the job is no longer this claim's
        (another claim holds it, or the reconciler re-queued or it lost the job). Then it is marked lost: no more
        renewals, and it is dropped at its next step. A final job is not taken over (the cancel check stops it);
        a failed read decides nothing (the next write asks again)."""
        try:
            job = self.store.get(claimed.job_id)
        except Exception:
            logger.exception("reading a job whose lease write failed", extra={"job_id": claimed.job_id})
            return False
        if job is not None and (job.status.is_final or (job.status is JobState.RUNNING
                                                         and job.lease_owner == claimed.token)):
            return False
        logger.warning("job taken over by another claim; this worker drops it",
                       extra={"job_id": claimed.job_id, "status": job.status if job else None})
        with self._leases:
            self._held.pop(claimed.token, None)
            self._lost.add(claimed.token)
        return True

    def _progress(self, group: list[_Claimed], cancelled: set[str]) -> Any:
        """The pipeline's progress callback for a group: it times the step (watchdog), then stops the group when it
        was abandoned (stalled, or every job taken over), ran past ``max_run_s`` or must be handed back; progress
        writes (each only while the claim holds) at a bounded rate, and cancel checks."""
        last: dict[str, Any] = {"stage": "", "at": 0.0}

        def report(stage: str, percent: float) -> None:
            self.timer.step()
            if self._abandoned.is_set() or all(c.token in self._lost for c in group):
                raise _Abandoned
            if self.timer.overran():
                raise _TimedOut
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise _HandBack
            now = time.monotonic()
            if stage == last["stage"] and now - last["at"] < self.settings.progress_interval_s:
                return
            last.update(stage=stage, at=now)
            for claimed in group:
                if claimed.job_id in cancelled or claimed.token in self._lost:
                    continue
                written = self._best_effort("writing progress", self._as_holder, claimed.job_id, claimed.token,
                                            progress_stage=stage, progress_percent=round(percent, 1))
                if written is False and not self._taken_over(claimed):  # final: cancelled while we worked
                    cancelled.add(claimed.job_id)  # (None: the write failed; the next report tries again)
            if all(c.token in self._lost for c in group):
                raise _Abandoned
            if all(c.job_id in cancelled or c.token in self._lost for c in group):
                raise _Cancelled

        return report
