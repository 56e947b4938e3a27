"""Webhook notification of a job's final state: claimed once per job, signed, retried."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from shared.ports import JobTable
from shared.records import JobRecord, WebhookEvent, utcnow
from shared.settings import Settings
from shared.webhooks import deliver

logger = Logger(service="status")


def notify_final(job: JobRecord, store: JobTable, settings: Settings) -> bool:
    """POST the signed final-state event to the job's webhook once; True if this call delivered it."""
    if not (job.status.is_final and job.webhook_url):
        return False
    if not store.set_fields(job.job_id, only_if_absent="webhook_claimed_at", webhook_claimed_at=utcnow()):
        return False  # another event for this job already notified (or is notifying)
    body = WebhookEvent.for_job(job).model_dump_json().encode()
    error = deliver(job.webhook_url, body, settings.webhook_secret, attempts=settings.webhook_attempts,
                    timeout_s=settings.webhook_timeout_s, backoff_s=settings.webhook_backoff_s,
                    allow_private=settings.allow_insecure_webhooks)
    if error is None:
        store.set_fields(job.job_id, webhook_delivered_at=utcnow())
        return True
    logger.warning("webhook failed", extra={"job_id": job.job_id, "error": error})
    store.set_fields(job.job_id, webhook_error=error)
    return False
