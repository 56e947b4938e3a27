"""The reconciler, run on a schedule: no job stays unfinished.

One pass, over the active-job index (``shared.store.active``: queued and running jobs, and final jobs whose webhook
event is not queued yet):

- **Lost webhook events.** A final job still marked NOTIFY ``notify_after_s`` after it ended (its status event was
  dropped, its send failed, or a cancel's marker was not written) gets its event queued now, or none if it has no
  webhook.

- **Orphans.** A submit writes the request and the job item, then sends its message, then sets ``enqueued_at``. A job
  still QUEUED without ``enqueued_at`` ``orphan_after_s`` after its creation may never have reached the queue (a crash
  between the writes, or a failed ``enqueued_at`` write after a send that worked): its message is sent (again), then
  ``enqueued_at`` set while still unset. A second message is harmless: claims are exclusive and a final job's message
  is skipped.
- **Stale running jobs** (lease ended more than ``stale_after_s`` ago, or started too long ago). A manifest, failure
  record or cancellation marker already in S3 means the status function's S3 event was dropped: the record is applied
  through ``StatusRecorder.apply`` (the job completes without running again). Otherwise a job that ran longer than
  ``max_attempts`` x ``max_run_s`` (+ ``stale_after_s``) since it first started, and whose lease has ended (no worker
  is on it now), is failed ``timed_out``; one whose worker died and whose message was lost is re-queued while it has
  attempts left (``attempts`` < ``max_attempts``), else failed ``dead_letter``.
- **Jobs queued too long.** A job whose message was sent more than ``max_queued_s`` ago (SQS keeps messages 4 days)
  is failed ``timed_out``. With ``resend_queued_after_s`` (SageMaker mode, where the dispatcher deletes each message
  once the endpoint accepted it) a job queued that long is sent again first, as an orphan is.

Every failure goes through ``functions.failures.fail_job`` (the transition plus the failure record, from which the
status function notifies the webhook). Re-queue and the lease-based failures hold only while no worker holds a lease
on the job, so a worker that claimed it in the meantime wins. A re-queued job reads ``queued`` again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from functions.failures import fail_job
from functions.observability import lambda_entry
from functions.status.handler import recorder as status_recorder
from shared import keys
from shared.aws import client
from shared.ports import ActiveJobs, Clock, Jobs, MessageQueue, ObjectStore
from shared.records import ActiveJob, JobMessage, JobRecord, utcnow
from shared.settings import Settings, get_settings
from shared.states import JobState
from shared.storage import exists
from shared.store import JobStore

logger = Logger(service="status")
QUEUED_TOO_LONG_REASON = "no worker became free in time; please submit the job again"
RAN_TOO_LONG_REASON = "generation took longer than the time limit and was stopped; please submit the job again"
WORKER_LOST_REASON = "generation was interrupted {attempts} times and was abandoned; please submit the job again"
#: every action a pass may take, as its result's keys (plus ``checked`` and ``failed``, the failures' sum)
ACTIONS = ("resent", "applied", "requeued", "dead_lettered", "timed_out", "unchanged", "errors", "notified")


class Recorder(Protocol):
    """What the reconciler needs of the status function (``functions.status.handler.StatusRecorder``)."""

    def apply(self, key: str) -> JobRecord | None: ...

    def notify(self, job_id: str) -> bool: ...


class ReconcileStore(Jobs, ActiveJobs, Protocol):
    """What the reconciler uses of the job table: the active-job index for its candidates, job items to settle them."""


@dataclass(frozen=True)
class Reconciler:
    """Finds jobs that would otherwise never finish and settles them. Clients are injected; ``sqs`` is the job
    queue's client (re-queued jobs get a fresh message there)."""

    settings: Settings
    store: ReconcileStore
    s3: ObjectStore
    sqs: MessageQueue
    recorder: Recorder
    clock: Clock = field(default=utcnow)

    def run(self) -> dict[str, int]:
        """One pass; returns how many candidates were checked and how many of them got each action."""
        now = self.clock()
        tally: Counter[str] = Counter()
        tally.update(self._notify_pending(now))  # first: the jobs this pass ends are the status function's turn
        orphans = self.store.unqueued_before(now - timedelta(seconds=self.settings.orphan_after_s))
        for job_id in orphans:
            tally[self._guarded(job_id, self._orphan, job_id, now)] += 1
        lease_cutoff = now - timedelta(seconds=self.settings.stale_after_s)
        started_cutoff = now - self._run_limit()
        running = self.store.running_stale(lease_cutoff, started_cutoff)
        for active in running:
            tally[self._guarded(active.job_id, self._running, active, now, lease_cutoff, started_cutoff)] += 1
        resend_s = self.settings.resend_queued_after_s
        queued_s = min(resend_s, self.settings.max_queued_s) if resend_s else self.settings.max_queued_s
        queued = self.store.queued_since_before(now - timedelta(seconds=queued_s))
        for active in queued:
            tally[self._guarded(active.job_id, self._queued, active, now)] += 1
        result = {action: tally[action] for action in ACTIONS}
        return {"checked": len(orphans) + len(running) + len(queued), **result,
                "failed": result["dead_lettered"] + result["timed_out"]}

    def _notify_pending(self, now: datetime) -> Counter[str]:
        """Queue the webhook events of final jobs still NOTIFY (``shared.store.active``) ``notify_after_s`` after they
        ended: their status event was dropped (an applied record, a cancel whose marker was not written) or its send
        failed. ``notified`` counts the jobs settled (their event queued, or none to queue)."""
        done: Counter[str] = Counter()
        for job_id in self.store.notify_pending(now - timedelta(seconds=self.settings.notify_after_s)):
            done[self._guarded(job_id, self._notify, job_id)] += 1
        return done

    def _notify(self, job_id: str) -> str:
        self.recorder.notify(job_id)
        return "notified"

    def _run_limit(self) -> timedelta:
        """How long after its first start a running job is failed once no worker holds its lease."""
        return timedelta(seconds=self.settings.max_attempts * self.settings.max_run_s + self.settings.stale_after_s)

    @staticmethod
    def _guarded(job_id: str, action: Callable[..., str], *args: Any) -> str:
        """``action``'s name for this job, or ``errors`` when AWS failed it (the next pass tries again)."""
        try:
            return action(*args)
        except (BotoCoreError, ClientError):
            logger.exception("reconciling a job failed; the next pass tries again", extra={"job_id": job_id})
            return "errors"

    def _orphan(self, job_id: str, now: datetime) -> str:
        job = self.store.get(job_id)
        if job is None or job.status is not JobState.QUEUED or job.enqueued_at is not None:
            return "unchanged"
        self._send(job, now)
        recorded = self.store.set_fields(job_id, only_if=JobState.QUEUED, only_if_absent="enqueued_at",
                                         enqueued_at=now)
        logger.warning("orphaned job sent to the queue", extra={"job_id": job_id, "created_at": job.created_at,
                                                                "recorded": recorded})
        return "resent"

    def _send(self, job: JobRecord, now: datetime) -> None:
        """A fresh message for ``job``, stamped ``now`` (the job's ``enqueued_at`` will say the same)."""
        message = JobMessage(job_id=job.job_id, owner=job.owner, request_key=job.request_key,
                             submitted_at=job.created_at, enqueued_at=now)
        self.sqs.send_message(QueueUrl=self.settings.queue_url, MessageBody=message.model_dump_json())

    def _running(self, active: ActiveJob, now: datetime, lease_cutoff: datetime, started_cutoff: datetime) -> str:
        job_id = active.job_id
        key = self._record_in_bucket(job_id)
        if key is not None:  # its S3 event was dropped
            if self.recorder.apply(key) is not None:
                logger.warning("dropped event applied", extra={"job_id": job_id, "key": key})
                return "applied"
            current = self.store.get(job_id)
            if current is None or current.status is not JobState.RUNNING:
                return "unchanged"  # final meanwhile
        if active.started_at is not None and active.started_at < started_cutoff:
            if fail_job(self.store, self.s3, self.settings.bucket_name, job_id, "timed_out", RAN_TOO_LONG_REASON,
                        lease_ended_before=now) is None:
                return "unchanged"
            logger.warning("job ran too long and was failed", extra={"job_id": job_id,
                                                                      "started_at": active.started_at})
            return "timed_out"
        if active.lease_until is None or active.lease_until >= lease_cutoff:
            return "unchanged"
        if active.attempts >= self.settings.max_attempts:
            if fail_job(self.store, self.s3, self.settings.bucket_name, job_id, "dead_letter",
                        WORKER_LOST_REASON.format(attempts=active.attempts), lease_ended_before=lease_cutoff) is None:
                return "unchanged"
            logger.warning("stale job out of attempts was failed", extra={"job_id": job_id,
                                                                          "attempts": active.attempts})
            return "dead_lettered"
        return self._requeue(job_id, now, lease_cutoff)

    def _requeue(self, job_id: str, now: datetime, lease_cutoff: datetime) -> str:
        """Send a fresh message, then move the job back to QUEUED while its lease is still ended.

        The message goes first: if the send fails nothing has changed and the next pass tries again. A worker that
        takes the new message before the transition claims the job from RUNNING (its lease has ended), and the
        transition then finds that lease and changes nothing. ``started_at`` is cleared: the job is waiting again, and
        the run-time limit counts from its next start, not across the wait (``attempts`` still bounds the total).
        """
        job = self.store.get(job_id)
        lease_ended = job is not None and job.lease_until is not None and job.lease_until < lease_cutoff
        if job is None or job.status is not JobState.RUNNING or not lease_ended:
            return "unchanged"  # final, claimed or handed back since the index was read: no second message
        self._send(job, now)
        requeued = self.store.transition(job_id, JobState.QUEUED, lease_ended_before=lease_cutoff, enqueued_at=now,
                                         lease_until=None, started_at=None, progress_stage=None,
                                         progress_percent=None)
        logger.warning("stale job re-queued", extra={"job_id": job_id, "attempts": job.attempts,
                                                     "transitioned": requeued is not None})
        return "requeued"

    def _queued(self, active: ActiveJob, now: datetime) -> str:
        """Fail a job waiting longer than ``max_queued_s`` since it was created (re-sends do not restart that clock);
        send a younger one again (``resend_queued_after_s``)."""
        enqueued = active.enqueued_at
        if enqueued is not None and active.created_at >= now - timedelta(seconds=self.settings.max_queued_s):
            job = self.store.get(active.job_id)
            if job is None or job.status is not JobState.QUEUED or job.enqueued_at != enqueued:
                return "unchanged"  # claimed, final or sent again since the index was read
            self._send(job, now)
            self.store.set_fields(job.job_id, only_if=JobState.QUEUED, enqueued_at=now)
            logger.warning("queued job sent again", extra={"job_id": job.job_id, "enqueued_at": enqueued})
            return "resent"
        return self._queued_too_long(active, now)

    def _queued_too_long(self, active: ActiveJob, now: datetime) -> str:
        if fail_job(self.store, self.s3, self.settings.bucket_name, active.job_id, "timed_out",
                    QUEUED_TOO_LONG_REASON, lease_ended_before=now) is None:
            return "unchanged"  # claimed (or final) meanwhile
        logger.warning("job queued too long was failed", extra={"job_id": active.job_id,
                                                                "enqueued_at": active.enqueued_at})
        return "timed_out"

    def _record_in_bucket(self, job_id: str) -> str | None:
        """The key of the first of the job's manifest, failure record or cancellation marker that exists."""
        records = (keys.manifest_key(job_id), keys.failure_key(job_id), keys.cancellation_key(job_id))
        return next((key for key in records if exists(self.s3, self.settings.bucket_name, key)), None)


def reconciler(settings: Settings | None = None) -> Reconciler:
    """A reconciler wired to the settings' table, bucket, job queue and status recorder."""
    settings = settings or get_settings()
    return Reconciler(settings, JobStore(client("dynamodb", settings), settings.table_name), client("s3", settings),
                      client("sqs", settings), status_recorder(settings))


def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """EventBridge scheduled event (its content is not used) -> one reconciler pass."""
    return reconciler().run()


handler = lambda_entry(_handle, logger=logger, service="status")
