"""SageMaker mode: job messages from SQS -> asynchronous endpoint invocations (infrastructure/gpu/compute.yaml).

Each message (a ``shared.records.JobMessage``) is stored as the invocation input under ``sagemaker-inputs/{job_id}
.json`` and handed to ``InvokeEndpointAsync``; the endpoint's container then runs the job as the SQS worker does
(``inference_container/worker/sagemaker.py``). A record whose hand-off fails (S3 or SageMaker error) is reported back
to SQS, which delivers it again and dead-letters it after the queue's maxReceiveCount (the dead-letter consumer then
fails the job). A body that is not a job message is logged and dropped: no job waits on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from functions.observability import lambda_entry
from shared import keys
from shared.aws import client
from shared.ports import ObjectStore
from shared.records import JobMessage
from shared.settings import Settings

logger = Logger(service="dispatch")

#: SageMaker's longest invocation timeout; MAX_RUN_S plus the margin is capped at it
MAX_INVOCATION_TIMEOUT_S = 3600
#: time for the container to write outputs and answer after a run that used all of MAX_RUN_S
INVOCATION_MARGIN_S = 120


class AsyncEndpoint(Protocol):
    """The sagemaker-runtime client method the dispatcher calls."""

    def invoke_endpoint_async(self, *, EndpointName: str, InputLocation: str, ContentType: str, InferenceId: str,
                              InvocationTimeoutSeconds: int) -> Any: ...


class DispatchSettings(Settings):
    """``shared.settings.Settings`` plus ``ENDPOINT_NAME``, the asynchronous endpoint of the compute stack."""

    endpoint_name: str = ""


@dataclass(frozen=True)
class Dispatcher:
    """Hands job messages to the asynchronous endpoint."""

    bucket: str
    endpoint_name: str
    invocation_timeout_s: int
    s3: ObjectStore
    endpoint: AsyncEndpoint

    @classmethod
    def from_settings(cls, settings: DispatchSettings, s3: ObjectStore, endpoint: AsyncEndpoint) -> Dispatcher:
        """A dispatcher whose invocation timeout covers one attempt (``MAX_RUN_S``) and the margin."""
        timeout = min(MAX_INVOCATION_TIMEOUT_S, int(settings.max_run_s) + INVOCATION_MARGIN_S)
        return cls(settings.bucket_name, settings.endpoint_name, timeout, s3, endpoint)

    def dispatch(self, body: str) -> str | None:
        """Store one message as an invocation input and invoke the endpoint; returns the job id (None if dropped).

        AWS errors propagate, so the batch reports the record as failed and SQS delivers it again."""
        try:
            message = JobMessage.model_validate_json(body)
        except ValidationError:
            logger.error("message without a job dropped", extra={"body": body[:500]})
            return None
        if not keys.JOB_ID_PATTERN.match(message.job_id):
            logger.error("message with a malformed job id dropped", extra={"job_id": message.job_id[:100]})
            return None
        key = keys.sagemaker_input_key(message.job_id)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=message.model_dump_json().encode(),
                           ContentType="application/json")
        response = self.endpoint.invoke_endpoint_async(
            EndpointName=self.endpoint_name, InputLocation=f"s3://{self.bucket}/{key}", ContentType="application/json",
            InferenceId=message.job_id, InvocationTimeoutSeconds=self.invocation_timeout_s)
        logger.info("job handed to the endpoint",
                    extra={"job_id": message.job_id, "output_location": response.get("OutputLocation")})
        return message.job_id


def process(event: dict[str, Any], dispatcher: Dispatcher) -> PartialItemFailureResponse:
    """An SQS batch -> one hand-off per record; the records that failed are reported for redelivery."""

    def record_handler(record: SQSRecord) -> str | None:
        return dispatcher.dispatch(record.body)

    return process_partial_response(event=event, record_handler=record_handler,
                                    processor=BatchProcessor(event_type=EventType.SQS))


@lru_cache(maxsize=1)
def dispatcher() -> Dispatcher:
    """The process-wide dispatcher, from the environment (``BUCKET_NAME``, ``ENDPOINT_NAME``, ``MAX_RUN_S``)."""
    settings = DispatchSettings()
    return Dispatcher.from_settings(settings, client("s3", settings), client("sagemaker-runtime", settings))


def _handle(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """SQS batch from the job queue (SageMaker mode)."""
    return process(event, dispatcher())


handler = lambda_entry(_handle, logger=logger, service="dispatch")
