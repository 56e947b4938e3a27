"""Cancelling a job that is not finished yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from functions.api.errors import ConflictError
from functions.api.reads import JobReads
from functions.gpu_time import charge_gpu_time
from shared import keys
from shared.ports import Clock, Jobs, ObjectStore, Usage
from shared.records import CancellationRecord, JobRecord, utcnow
from shared.states import JobState
from shared.storage import put_json

logger = Logger(service="api")


class CancelStore(Jobs, Usage, Protocol):
    """What a cancel uses of the job table: job items, and usage for the GPU seconds of a running job."""


@dataclass(frozen=True)
class Cancellations:
    """Cancels the caller's jobs and leaves the marker the status function notifies the webhook from. ``clock``
    stamps ``completed_at``."""

    reads: JobReads
    store: CancelStore
    s3: ObjectStore
    bucket: str
    clock: Clock = field(default=utcnow)

    def cancel(self, job_id: str, owner: str) -> JobRecord:
        """Cancel a queued or running job (404 if not the caller's, 409 once final). A running job's GPU seconds so
        far are charged to its account, as if it had ended now."""
        record = self.reads.get_owned(job_id, owner)
        updated = self.store.transition(job_id, JobState.CANCELLED, completed_at=self.clock(), error=None)
        if updated is None:
            current = self.store.get(job_id) or record
            raise ConflictError(f"job {job_id} is already {current.status.wire} and cannot be cancelled")
        charge_gpu_time(self.store, updated)  # this transition ended it: counted once
        try:  # the marker only triggers the webhook: the job is cancelled whatever happens to it
            put_json(self.s3, self.bucket, keys.cancellation_key(job_id), CancellationRecord(job_id=job_id))
        except (BotoCoreError, ClientError):
            logger.exception("cancellation marker not written; the reconciler queues the webhook",
                             extra={"job_id": job_id})
        return updated
