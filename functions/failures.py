"""Failing a job from the control plane (API or reconciler): one path, so the status function notifies the webhook."""

from __future__ import annotations

from datetime import datetime

from shared.ports import Jobs, ObjectStore
from shared.records import FailureCode, JobRecord, utcnow
from shared.states import JobState
from shared.storage import put_failure


def fail_job(store: Jobs, s3: ObjectStore, bucket: str, job_id: str, code: FailureCode, reason: str, *,
             only_if_absent: str | None = None, lease_ended_before: datetime | None = None) -> JobRecord | None:
    """Move the job to FAILED with ``reason`` and ``code`` and write its failure record; None when its state (or a
    condition) forbade the move.

    ``only_if_absent`` fails it only while that attribute is unset (orphans: ``enqueued_at``); ``lease_ended_before``
    only while its lease ended before then (a stale running job: a worker that claimed it meanwhile wins).
    """
    failed = store.transition(job_id, JobState.FAILED, only_if_absent=only_if_absent,
                              lease_ended_before=lease_ended_before, error=reason, error_code=code,
                              completed_at=utcnow())
    if failed is not None:
        put_failure(s3, bucket, job_id, code, reason)
    return failed
