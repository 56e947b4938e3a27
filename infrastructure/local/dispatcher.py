"""The local stand-in for Lambda's event sources: delivers the bucket's object-created events to the status
function or the upload check (routed by the template's key filters), webhook messages to the webhook function,
dead-lettered messages to the dead-letter consumer, and runs the reconciler on a schedule, with AWS's event shapes."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger

from functions.status import dead_letter, reconcile, upload_check, webhook
from functions.status import handler as status
from infrastructure.local.resources import S3_FUNCTIONS
from infrastructure.local.template import key_matches, s3_key_rules
from shared.aws import client
from shared.settings import Settings

logger = Logger(service="local-dispatcher")


@dataclass
class LambdaContext:
    """The attributes of a Lambda context object that Powertools reads."""

    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def s3_put_event(record: dict[str, Any], region: str) -> dict[str, Any]:
    """An S3 event as AWS delivers it (the ``sam local generate-event s3 put`` shape) from moto's sparser record."""
    s3 = record.get("s3", {})
    bucket = s3.get("bucket", {}).get("name", "")
    obj = s3.get("object", {})
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": record.get("awsRegion", region),
        "eventTime": record.get("eventTime", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
        "eventName": record.get("eventName", "ObjectCreated:Put"),
        "userIdentity": {"principalId": "EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE123/5678abcdefgh"},
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": s3.get("configurationId", "local"),
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": obj.get("key", ""), "size": obj.get("size", 0), "eTag": obj.get("eTag", ""),
                       "sequencer": obj.get("sequencer", "0A1B2C3D4E5F678901")},
        },
    }]}


def scheduled_event(rule: str, region: str) -> dict[str, Any]:
    """An EventBridge scheduled event, as a ``Schedule`` event source delivers it."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
        "resources": [f"arn:aws:events:{region}:123456789012:rule/{rule}"], "detail": {},
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {k: str(v) for k, v in m.get("Attributes", {}).items()}, "messageAttributes": {},
        "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": region,
    } for m in messages]}


class Dispatcher:
    """Polls the local events queue and the DLQ in a background thread and invokes the handlers; runs the
    reconciler every ``reconcile_every_s`` seconds (the template's schedule, shortened for a local stack).

    ``processed`` counts the object keys whose event the status function or the upload check has handled, and
    ``webhooks`` the webhook messages handled per job id, delivered or dropped (not those that failed and come back
    later): tests wait on them.
    """

    def __init__(self, settings: Settings, events_queue_url: str, reconcile_every_s: float = 60.0) -> None:
        self.settings, self.events_queue_url = settings, events_queue_url
        self.reconcile_every_s = reconcile_every_s
        self.sqs = client("sqs", settings)
        self.processed: Counter[str] = Counter()
        self.webhooks: Counter[str] = Counter()
        handlers = {"StatusFunction": status.handler, "UploadCheckFunction": upload_check.handler}
        self._routes = [(function_id, s3_key_rules(function_id), handlers[function_id]) for function_id in S3_FUNCTIONS]
        self._reconciling = threading.Lock()
        self._last_reconcile = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-dispatcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.pump()
            except Exception:  # keep dispatching; the failed message becomes visible again
                logger.exception("dispatch failed")
                busy = False
            if not busy:
                self._stop.wait(0.05)

    def pump(self) -> bool:
        """Deliver what is waiting now, and reconcile when due; True if anything was delivered."""
        busy = self._pump_events() | self._pump_webhooks() | self._pump_dead_letters()
        if time.monotonic() - self._last_reconcile >= self.reconcile_every_s:
            self.run_reconciler()
        return busy

    def run_reconciler(self) -> dict[str, int] | None:
        """Invoke the reconciler now; None (nothing run) while paused."""
        if not self._reconciling.acquire(blocking=False):
            return None
        try:
            self._last_reconcile = time.monotonic()
            result: dict[str, int] = reconcile.handler(scheduled_event("ReconcileSchedule", self.settings.aws_region),
                                                       LambdaContext("ReconcileFunction"))
            return result
        finally:
            self._reconciling.release()

    @contextmanager
    def reconciler_paused(self) -> Iterator[None]:
        """No reconciler pass runs inside (one in progress is waited for), e.g. while a test stages an orphan."""
        with self._reconciling:
            yield

    def _pump_events(self) -> bool:
        messages = self.sqs.receive_message(QueueUrl=self.events_queue_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=0).get("Messages", [])
        for message in messages:
            body = json.loads(message["Body"])
            for record in body.get("Records", []):  # s3:TestEvent has none
                if record.get("eventName", "").startswith("ObjectCreated"):
                    event = s3_put_event(record, self.settings.aws_region)
                    key = unquote_plus(event["Records"][0]["s3"]["object"]["key"])
                    for function_id, rules, handler in self._routes:
                        if key_matches(rules, key):
                            handler(event, LambdaContext(function_id))
                    self.processed[key] += 1
            self.sqs.delete_message(QueueUrl=self.events_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bool(messages)

    def _pump_webhooks(self) -> bool:
        """One batch of WebhookQueue to the webhook function; records it reports as failed stay (with the visibility
        it set), the others are deleted, as Lambda's event source mapping with ReportBatchItemFailures does."""
        url = self.settings.webhook_queue_url
        if not url:
            return False
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                            AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return False
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        result = webhook.handler(sqs_event(messages, arn, self.settings.aws_region), LambdaContext("WebhookFunction"))
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                self.webhooks[str(json.loads(message["Body"]).get("job_id"))] += 1
        return True

    def _pump_dead_letters(self) -> bool:
        if not self.settings.dlq_url:
            return False
        messages = self.sqs.receive_message(QueueUrl=self.settings.dlq_url, MaxNumberOfMessages=10,
                                            WaitTimeSeconds=0, AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return False
        arn = self.sqs.get_queue_attributes(QueueUrl=self.settings.dlq_url,
                                            AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        result = dead_letter.handler(sqs_event(messages, arn, self.settings.aws_region),
                                     LambdaContext("DeadLetterFunction"))
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.settings.dlq_url, ReceiptHandle=message["ReceiptHandle"])
        return True
