"""Webhook notification of a job's final state: handed to the webhook queue at least once per job.

The status function never calls a receiver: a slow or failing receiver would hold it. It sends the event (the
``WebhookEvent`` JSON, signed at each delivery) to ``WEBHOOK_QUEUE_URL``; the webhook function
(``functions.status.webhook``) delivers it, one attempt per queue delivery, with growing backoff and a DLQ.

A final transition leaves the job in the active index's NOTIFY partition (``shared.store.active``) until its event is
queued (or it has no webhook), so the reconciler queues the events of status events that were dropped or failed.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from shared.ports import Jobs, MessageQueue
from shared.records import JobRecord, WebhookEvent, utcnow
from shared.settings import Settings

logger = Logger(service="status")


def notify_final(job: JobRecord, store: Jobs, queue: MessageQueue, settings: Settings) -> bool:
    """Queue the final-state event of ``job`` for its webhook unless ``webhook_queued_at`` says it was, then take the
    job out of the NOTIFY partition; True if this call queued the event.

    The event is sent first and ``webhook_queued_at`` set after: a crash or a failed write in between sends it again
    later (a duplicate, which receivers drop by ``event_id``), never loses it. A failed send raises, so the status
    event is delivered again; the job stays NOTIFY, so the reconciler tries too.
    """
    if not job.status.is_final:
        return False
    queued = False
    if job.webhook_url and job.webhook_queued_at is None:
        body = WebhookEvent.for_job(job).model_dump_json()
        try:
            queue.send_message(QueueUrl=settings.webhook_queue_url, MessageBody=body)
        except Exception:
            logger.exception("webhook event not queued", extra={"job_id": job.job_id})
            raise
        store.set_fields(job.job_id, webhook_queued_at=utcnow())
        logger.info("webhook event queued", extra={"job_id": job.job_id, "status": job.status.value})
        queued = True
    store.notified(job.job_id)
    return queued
