"""The status function: S3 ObjectCreated on outputs/, failures/ and cancellations/ -> the job's final state.

Idempotent: a duplicate or late event finds the job already final and changes nothing (``shared.states`` forbids
leaving a final state), so jobs never move backwards. Every final state is queued for the job's webhook at least once
(``functions.status.notify``; the webhook function delivers it). The transition that ends a job that ran adds its GPU
seconds to its account's quota (``functions.gpu_time``), so a repeated event adds nothing.
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from pydantic import ValidationError

from functions.gpu_time import charge_gpu_time
from functions.observability import lambda_entry
from functions.status.notify import notify_final
from shared import keys
from shared.aws import client
from shared.ports import Clock, Jobs, MessageQueue, ObjectStore, Usage
from shared.records import FailureCode, FailureRecord, JobRecord, OutputFile, OutputManifest, utcnow
from shared.settings import Settings, get_settings
from shared.states import JobState
from shared.storage import is_missing
from shared.store import JobStore

logger = Logger(service="status")
metrics = Metrics(namespace="DiffRhythm", service="status")


class RecorderStore(Jobs, Usage, Protocol):
    """What the status function uses of the job table: job items, and usage for the GPU seconds of jobs it ends."""


class StatusRecorder:
    """Applies one S3 object to its job, adds the GPU seconds of a job it ends to the job's account, and queues the
    job's webhook event (``webhooks``: the SQS client of ``settings.webhook_queue_url``). Clients are injected;
    ``clock`` stamps ``completed_at``."""

    def __init__(self, settings: Settings, store: RecorderStore, s3: ObjectStore, webhooks: MessageQueue,
                 clock: Clock = utcnow) -> None:
        self.settings, self.store, self.s3, self.webhooks, self.clock = settings, store, s3, webhooks, clock

    def apply(self, key: str) -> JobRecord | None:
        """Record what ``key`` means for its job; returns the job when this call changed its state."""
        parsed = keys.parse_key(key)
        if parsed is None:
            logger.debug("ignored key", extra={"key": key})
            return None
        job_id = parsed.job_id
        changed = None
        if parsed.kind is keys.KeyKind.MANIFEST:
            changed = self._complete(job_id, key)
        elif parsed.kind is keys.KeyKind.FAILURE:
            changed = self._fail(job_id, key)
        job = changed or self.store.get(job_id)
        if job is None:
            logger.warning("object for an unknown job", extra={"key": key})
            return None
        if changed is None:
            logger.info("no state change", extra={"job_id": job_id, "status": job.status, "key": key})
        else:
            metrics.add_metric(name=f"Jobs{job.status.value.title()}", unit=MetricUnit.Count, value=1)
            charge_gpu_time(self.store, changed)  # only this call's transition ended it: counted once
        notify_final(job, self.store, self.webhooks, self.settings)
        return changed

    def notify(self, job_id: str) -> bool:
        """Queue the webhook event of a final job whose status event was lost (the reconciler calls this); True if
        this call queued one."""
        job = self.store.get(job_id)
        return job is not None and notify_final(job, self.store, self.webhooks, self.settings)

    def _complete(self, job_id: str, key: str) -> JobRecord | None:
        try:
            manifest = OutputManifest.model_validate_json(self._read(key))
            foreign = [o.key for o in manifest.outputs if not o.key.startswith(keys.output_prefix(job_id))]
            if foreign:  # never presign another job's (or any other) object for this job's owner
                raise ValueError(f"outputs outside {keys.output_prefix(job_id)}: {foreign[:3]}")
            outputs = [OutputFile(index=o.index, format=o.format, key=o.key, size_bytes=self._size(o.key),
                                  kind=o.kind, score=o.score, lyrics_accuracy=o.lyrics_accuracy,
                                  content_credentials=o.content_credentials) for o in manifest.outputs]
        except (ValueError, FileNotFoundError) as error:
            logger.error("bad manifest", extra={"key": key, "error": str(error)})
            return self.store.transition(job_id, JobState.FAILED, completed_at=self.clock(),
                                         error_code="output_incomplete",
                                         error="the worker's output was incomplete; please submit the job again")
        return self.store.transition(job_id, JobState.COMPLETED, completed_at=self.clock(), outputs=outputs,
                                     duration_s=manifest.duration_s, progress_stage="done", progress_percent=100.0,
                                     error=None, error_code=None)

    def _fail(self, job_id: str, key: str) -> JobRecord | None:
        code: FailureCode
        try:
            failure = FailureRecord.model_validate_json(self._read(key))
            reason, code = failure.reason, failure.code
        except (ValidationError, FileNotFoundError):
            reason, code = "generation failed for an unknown reason", "internal"
        return self.store.transition(job_id, JobState.FAILED, completed_at=self.clock(), error=reason,
                                     error_code=code)

    def _read(self, key: str) -> bytes:
        try:
            return bytes(self.s3.get_object(Bucket=self.settings.bucket_name, Key=key)["Body"].read())
        except ClientError as error:
            raise _missing(error, key) from error

    def _size(self, key: str) -> int:
        try:
            return int(self.s3.head_object(Bucket=self.settings.bucket_name, Key=key)["ContentLength"])
        except ClientError as error:
            raise _missing(error, key) from error


def _missing(error: ClientError, key: str) -> Exception:
    """A missing object is the worker's broken output; any other error (throttling) is raised as it is, so the event
    is delivered again instead of failing a job whose files are fine."""
    return FileNotFoundError(key) if is_missing(error) else error


def recorder(settings: Settings | None = None) -> StatusRecorder:
    """A recorder wired to the settings' table, bucket and webhook queue."""
    settings = settings or get_settings()
    return StatusRecorder(settings, JobStore(client("dynamodb", settings), settings.table_name), client("s3", settings),
                          client("sqs", settings))


@event_source(data_class=S3Event)
def _handle(event: S3Event, context: LambdaContext) -> dict[str, int]:
    """S3 notification -> job states. Accepts AWS's event shape and the sparser one moto produces."""
    status = recorder()
    keys_in_event = [unquote_plus(record.s3.get_object.key) for record in event.records]
    changed = sum(status.apply(key) is not None for key in keys_in_event)
    return {"records": len(keys_in_event), "changed": changed}


handler = lambda_entry(_handle, logger=logger, service="status", metrics=metrics)
