"""The webhook function: WebhookQueue (SQS) -> one signed POST per record per invocation.

Each message is a ``WebhookEvent`` queued at least once per final job by the status function (or the reconciler). A
record is delivered with ``shared.webhooks.deliver`` (public targets only, a checked address, no redirects, one
deadline) and the outcome recorded on the job: ``webhook_delivered_at``, or ``webhook_error``. A failed attempt comes
back later: its visibility grows with the receive count (``backoff_s``) and the record is reported as a batch item
failure; after the queue's maxReceiveCount it moves to WebhookDeadLetterQueue. Records that cannot succeed are
dropped: a target that is not allowed, a job that is gone, not final or already notified, a body that is not an
event. Each delivery is signed with the job's secret: its API key's own (``shared.webhooks.key_secret``), derived
from the master secret read from Secrets Manager (``WEBHOOK_SECRET_ID``, cached briefly; never in the environment).
A record is tried only while the invocation has time left for a whole attempt (``webhook_timeout_s``, the DNS lookup
included, plus ``RESERVE_S``); the rest of the batch is reported as failures untried, its visibility unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from functions.observability import lambda_entry
from shared.aws import client
from shared.ports import Jobs
from shared.records import JobRecord, WebhookEvent, utcnow
from shared.secrets import SecretReader, secrets
from shared.settings import Settings, get_settings
from shared.store import JobStore
from shared.webhooks import DeliveryError, Resolver, UnsafeTargetError, deliver, resolve_host, signing_secret

logger = Logger(service="webhook")
MAX_BACKOFF_S = 15 * 60
RESERVE_S = 2.0  # of an invocation, beyond one attempt's deadline: the job's reads and writes, the visibility change


class RetryLater(Exception):
    """This record's delivery failed; it comes back after its new visibility timeout."""


class NotTried(Exception):
    """Too little of the invocation was left for this record's attempt; it comes back when its visibility ends."""


class VisibilityQueue(Protocol):
    """The SQS client method the webhook function calls."""

    def change_message_visibility(self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> Any: ...


def backoff_s(receive_count: int, base_s: float = 30.0) -> int:
    """Whole seconds before delivery attempt ``receive_count + 1``: ``base_s`` (``WEBHOOK_BACKOFF_S``) doubling per
    attempt, at most 15 minutes.

    Example
    -------
    >>> [backoff_s(n) for n in (1, 2, 3, 6, 7, 8)]
    [30, 60, 120, 900, 900, 900]
    """
    return int(min(MAX_BACKOFF_S, base_s * 2 ** min(max(receive_count, 1) - 1, 16)))


@dataclass(frozen=True)
class WebhookSender:
    """Delivers queued webhook events. Clients are injected; ``read_secret`` reads the master secret by its id
    (``settings.webhook_secret_id``), ``resolve`` is the DNS lookup (tests pass both)."""

    settings: Settings
    store: Jobs
    queue: VisibilityQueue
    read_secret: SecretReader
    resolve: Resolver = resolve_host

    def secret_for(self, job: JobRecord) -> str:
        """The secret that signs ``job``'s webhooks: its API key's, or the master for a job without one."""
        return signing_secret(self.read_secret(self.settings.webhook_secret_id), job.key_id)

    def send(self, record: SQSRecord) -> str:
        """Deliver one record; returns what happened ("delivered" or why it was dropped). Raises ``RetryLater``
        (after pushing the record's next visibility out) when the attempt failed and may succeed later, and (with the
        visibility unchanged) when the signing secret could not be read."""
        try:
            event = WebhookEvent.model_validate_json(record.body)
        except ValidationError:
            logger.error("webhook message is not an event; dropped", extra={"body": record.body[:300]})
            return "not an event"
        job = self.store.get(event.job_id)
        if job is None or not job.status.is_final or not job.webhook_url:
            logger.warning("webhook for a job that is gone or not final; dropped", extra={"job_id": event.job_id})
            return "job gone or not final"
        if job.webhook_delivered_at is not None:
            return "already delivered"  # a duplicate queue delivery
        try:
            secret = self.secret_for(job)
        except Exception as unreadable:  # Secrets Manager refused or failed: the record comes back when visible again
            logger.exception("webhook secret not readable; record retried later", extra={"job_id": job.job_id})
            raise RetryLater("webhook secret not readable") from unreadable
        try:
            deliver(job.webhook_url, record.body.encode(), secret,
                    timeout_s=self.settings.webhook_timeout_s, allow_private=self.settings.allow_insecure_webhooks,
                    resolve=self.resolve)
        except UnsafeTargetError as unsafe:
            logger.warning("webhook target not allowed; dropped", extra={"job_id": job.job_id, "error": str(unsafe)})
            self.store.set_fields(job.job_id, webhook_error=str(unsafe))
            return "target not allowed"
        except DeliveryError as failure:
            count = int(record.attributes.approximate_receive_count or 1)
            delay = backoff_s(count, self.settings.webhook_backoff_s)
            logger.warning("webhook attempt failed", extra={"job_id": job.job_id, "error": str(failure),
                                                            "attempt": count, "retry_in_s": delay})
            self.store.set_fields(job.job_id, webhook_error=f"{failure} (attempt {count})")
            self.queue.change_message_visibility(QueueUrl=self.settings.webhook_queue_url,
                                                 ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay)
            raise RetryLater(str(failure)) from failure
        self.store.set_fields(job.job_id, webhook_delivered_at=utcnow(), webhook_error=None)
        logger.info("webhook delivered", extra={"job_id": job.job_id, "event": event.event})
        return "delivered"


def sender(settings: Settings | None = None) -> WebhookSender:
    """A sender wired to the settings' table, webhook queue and secret."""
    settings = settings or get_settings()
    return WebhookSender(settings, JobStore(client("dynamodb", settings), settings.table_name),
                         client("sqs", settings), secrets(settings))


# Every record failing is an answer too (the receiver is down): report them all, don't fail the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _handle(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS batch from WebhookQueue; records whose attempt failed, or that there was no time left to try, are reported
    for a later delivery."""
    send = sender()
    needed_ms = (send.settings.webhook_timeout_s + RESERVE_S) * 1000

    def in_time(record: SQSRecord) -> str:
        if context.get_remaining_time_in_millis() < needed_ms:  # the function's timeout would cut the attempt off
            logger.warning("no time left for this record; untried", extra={"message_id": record.message_id})
            raise NotTried(record.message_id)
        return send.send(record)

    return process_partial_response(event=event, record_handler=in_time, processor=processor, context=context)


handler = lambda_entry(_handle, logger=logger, service="webhook")
