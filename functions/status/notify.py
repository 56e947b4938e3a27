"""Webhook notification of a job's final state: claimed once per job, then handed to the webhook queue.

The status function never calls a receiver: a slow or failing receiver would hold it. It sends the event (the
``WebhookEvent`` JSON, signed at each delivery) to ``WEBHOOK_QUEUE_URL``; the webhook function
(``functions.status.webhook``) delivers it, one attempt per queue delivery, with growing backoff and a DLQ.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from shared.ports import JobTable, MessageQueue
from shared.records import JobRecord, WebhookEvent, utcnow
from shared.settings import Settings

logger = Logger(service="status")


def notify_final(job: JobRecord, store: JobTable, queue: MessageQueue, settings: Settings) -> bool:
    """Queue the final-state event of ``job`` for its webhook, once per job; True if this call queued it.

    The claim (``webhook_claimed_at``) makes duplicate status events send nothing. When the send fails the claim is
    released and the error raised, so the status event is delivered again (or reconciled) and nothing is lost.
    """
    if not (job.status.is_final and job.webhook_url):
        return False
    if not store.set_fields(job.job_id, only_if_absent="webhook_claimed_at", webhook_claimed_at=utcnow()):
        return False  # another event for this job already queued (or is queuing) its notification
    body = WebhookEvent.for_job(job).model_dump_json()
    try:
        queue.send_message(QueueUrl=settings.webhook_queue_url, MessageBody=body)
    except Exception:
        logger.exception("webhook event not queued; claim released", extra={"job_id": job.job_id})
        store.set_fields(job.job_id, webhook_claimed_at=None)
        raise
    logger.info("webhook event queued", extra={"job_id": job.job_id, "status": job.status.value})
    return True
