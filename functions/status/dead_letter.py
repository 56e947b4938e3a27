"""The dead-letter consumer: a job message that exhausted its deliveries -> a failure record in S3.

The status function then fails the job and notifies its webhook, exactly as for a worker's own failure record.
Jobs already final (e.g. cancelled) are left alone, and so are jobs the message no longer speaks for: one the
reconciler re-queued with a newer message (the message's ``enqueued_at`` is older than the job's), one a worker holds
a lease on (it is running under another delivery), and a running job between two attempts: attempts left
(``attempts`` < ``max_attempts``) and a lease that ended less than ``stale_after_s`` ago. A duplicate message reaches
the dead-letter queue that way (its receives found the job leased until its holder's retry ended the lease); the
job's own message comes back to a worker, and should it be lost too, the reconciler re-queues or fails the job once
its lease is stale.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from functions.observability import lambda_entry
from shared.aws import client
from shared.records import JobMessage, JobRecord, utcnow
from shared.settings import Settings, get_settings
from shared.states import JobState
from shared.storage import put_failure
from shared.store import JobStore

logger = Logger(service="status")
processor = BatchProcessor(event_type=EventType.SQS)


def abandoned(job: JobRecord, message: JobMessage, now: datetime, settings: Settings) -> bool:
    """Whether the dead-lettered ``message`` means ``job`` was abandoned. Not when the job is final, when a newer
    message replaced this one (the reconciler re-queued it), when a worker holds a lease on it (it is running under
    another delivery), or when it is running between attempts (attempts left, lease ended less than
    ``stale_after_s`` ago: its own message or the reconciler takes it on)."""
    if job.status.is_final:
        return False
    if message.enqueued_at is not None and job.enqueued_at is not None and message.enqueued_at < job.enqueued_at:
        logger.info("superseded dead letter ignored", extra={"job_id": job.job_id})
        return False
    if job.status is JobState.RUNNING and job.lease_until is not None:
        if job.lease_until > now:
            logger.info("dead letter of a job a worker holds ignored", extra={"job_id": job.job_id})
            return False
        if job.attempts < settings.max_attempts and job.lease_until >= now - timedelta(seconds=settings.stale_after_s):
            logger.info("dead letter of a job between attempts ignored", extra={
                "job_id": job.job_id, "attempts": job.attempts, "lease_until": job.lease_until.isoformat()})
            return False
    return True


def record_dead_letter(record: SQSRecord) -> str | None:
    """Write the failure record for one dead-lettered message; returns the failed job id, if any."""
    settings = get_settings()
    try:
        message = JobMessage.model_validate_json(record.body)
    except ValidationError:
        logger.error("dead letter without a job", extra={"body": record.body[:500]})
        return None  # no job can be waiting on it: nothing to fail
    store = JobStore(client("dynamodb", settings), settings.table_name)
    job = store.get(message.job_id)
    if job is None or not abandoned(job, message, utcnow(), settings):
        return None
    attempts = job.attempts or "repeated"  # the worker counts its attempts on the job
    reason = f"generation did not succeed after {attempts} attempts and was abandoned"
    if job.error:
        reason += f"; the last error was: {job.error}"
    put_failure(client("s3", settings), settings.bucket_name, job.job_id, "dead_letter", reason)
    logger.warning("job dead-lettered", extra={"job_id": job.job_id, "attempts": attempts})
    return job.job_id


def _handle(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS batch from the dead-letter queue; failed records are reported for redelivery."""
    return process_partial_response(event=event, record_handler=record_dead_letter, processor=processor,
                                    context=context)


handler = lambda_entry(_handle, logger=logger, service="status")
