"""The reconciler, run on a schedule: fails jobs that a crash left unqueued.

A submit writes the job item, then sends its message, then sets ``enqueued_at``. A job still QUEUED without
``enqueued_at`` ``orphan_after_s`` after its creation will never reach a worker (unless an Idempotency-Key replay
re-sends it first). It is failed as the API fails a job whose send failed: the transition plus the failure record,
from which the status function notifies the webhook. The transition holds only while ``enqueued_at`` is unset, so
a replay that re-sends it in the meantime wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.failures import fail_job
from functions.observability import lambda_entry
from shared.aws import client
from shared.jobs import JobStore
from shared.ports import Clock, JobTable, ObjectStore
from shared.records import utcnow
from shared.settings import Settings, get_settings
from shared.states import JobState

logger = Logger(service="status")
ORPHAN_REASON = "the job was never queued; please submit it again"


@dataclass(frozen=True)
class Reconciler:
    """Finds and fails orphaned jobs."""

    settings: Settings
    store: JobTable
    s3: ObjectStore
    clock: Clock = field(default=utcnow)

    def run(self) -> dict[str, int]:
        """One pass; returns how many queued jobs old enough were checked and how many of them were failed."""
        cutoff = self.clock() - timedelta(seconds=self.settings.orphan_after_s)
        candidates = self.store.unqueued_before(cutoff)
        failed = 0
        for job_id in candidates:
            job = self.store.get(job_id)
            if job is None or job.status is not JobState.QUEUED or job.enqueued_at is not None:
                continue
            if fail_job(self.store, self.s3, self.settings.bucket_name, job_id, "enqueue_failed", ORPHAN_REASON,
                        only_if_absent="enqueued_at"):
                logger.warning("orphaned job failed", extra={"job_id": job_id, "created_at": job.created_at})
                failed += 1
        return {"checked": len(candidates), "failed": failed}


def reconciler(settings: Settings | None = None) -> Reconciler:
    """A reconciler wired to the settings' table and bucket."""
    settings = settings or get_settings()
    return Reconciler(settings, JobStore(client("dynamodb", settings), settings.table_name), client("s3", settings))


def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """EventBridge scheduled event (its content is not used) -> one reconciler pass."""
    return reconciler().run()


handler = lambda_entry(_handle, logger=logger, service="status")
