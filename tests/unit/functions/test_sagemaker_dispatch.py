"""The SageMaker dispatcher (functions/dispatch/sagemaker.py): SQS records -> invocation inputs in S3 and
InvokeEndpointAsync calls, checked against botocore's own model of the sagemaker-runtime API (Stubber)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions.dispatch.sagemaker import (
    INVOCATION_MARGIN_S,
    MAX_INVOCATION_TIMEOUT_S,
    Dispatcher,
    DispatchSettings,
    process,
)
from shared import keys
from shared.records import JobMessage
from tests.support.fakes import FakeObjectStore, client_error
from tests.unit.conftest import BUCKET

ENDPOINT = "diffrhythm-unit-endpoint"
SQS_EVENT = Path(__file__).resolve().parents[2] / "events" / "sqs-receive-message.json"


def job_message() -> JobMessage:
    job_id = str(uuid.uuid4())
    return JobMessage(job_id=job_id, owner="owner-a", request_key=keys.request_key(job_id),
                      submitted_at=datetime(2030, 5, 17, 10, 0, tzinfo=UTC))


def sqs_event(*bodies: str) -> dict[str, Any]:
    """The recorded SQS event (tests/events) with one record per body, each with its own message id."""
    template = json.loads(SQS_EVENT.read_text())
    record = template["Records"][0]
    template["Records"] = [{**copy.deepcopy(record), "messageId": str(uuid.uuid4()), "body": body}
                           for body in bodies]
    return template


@pytest.fixture
def runtime() -> Iterator[tuple[Any, Stubber]]:
    """A real sagemaker-runtime client whose calls are checked against the service model and answered by a stub."""
    client = boto3.client("sagemaker-runtime", region_name="us-east-1", aws_access_key_id="unit",
                          aws_secret_access_key="unit")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def dispatcher(s3: FakeObjectStore, client: Any, timeout_s: int = 1920) -> Dispatcher:
    return Dispatcher(BUCKET, ENDPOINT, timeout_s, s3, client)


def expect_invocation(stub: Stubber, job_id: str, timeout_s: int = 1920) -> None:
    stub.add_response(
        "invoke_endpoint_async",
        {"InferenceId": job_id, "OutputLocation": f"s3://{BUCKET}/{keys.SAGEMAKER_OUTPUTS}{job_id}.out"},
        expected_params={"EndpointName": ENDPOINT, "ContentType": "application/json", "InferenceId": job_id,
                         "InputLocation": f"s3://{BUCKET}/{keys.sagemaker_input_key(job_id)}",
                         "InvocationTimeoutSeconds": timeout_s})


def test_each_message_becomes_an_input_object_and_one_async_invocation(s3, runtime):
    client, stub = runtime
    first, second = job_message(), job_message()
    for message in (first, second):
        expect_invocation(stub, message.job_id)
    result = process(sqs_event(first.model_dump_json(), second.model_dump_json()), dispatcher(s3, client))
    assert result == {"batchItemFailures": []}
    assert sorted(s3.objects) == sorted(keys.sagemaker_input_key(m.job_id) for m in (first, second))
    for message in (first, second):
        stored, content_type = s3.objects[keys.sagemaker_input_key(message.job_id)]
        assert JobMessage.model_validate_json(stored) == message and content_type == "application/json"


def test_a_failed_invocation_reports_only_its_record_for_redelivery(s3, runtime):
    client, stub = runtime
    throttled, fine = job_message(), job_message()
    stub.add_client_error("invoke_endpoint_async", service_error_code="ThrottlingException", http_status_code=400)
    expect_invocation(stub, fine.job_id)
    event = sqs_event(throttled.model_dump_json(), fine.model_dump_json())
    result = process(event, dispatcher(s3, client))
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


class _FailingStore(FakeObjectStore):
    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        raise client_error("SlowDown", "PutObject")


def test_an_input_that_cannot_be_stored_is_not_invoked_and_is_redelivered(runtime):
    client, _stub = runtime  # no response queued: an invocation would fail the stub
    message = job_message()
    event = sqs_event(message.model_dump_json())
    with pytest.raises(Exception, match="All records failed"):  # every record failed: Lambda retries the batch
        process(event, dispatcher(_FailingStore(BUCKET), client))


@pytest.mark.parametrize("body", [
    "Hello from SQS!",  # the recorded event's own body
    json.dumps({"owner": "owner-a"}),  # JSON, not a job message
    job_message().model_copy(update={"job_id": "../requests/x"}).model_dump_json(),  # a key outside the prefix
])
def test_a_body_that_is_not_a_job_message_is_dropped_without_a_call(s3, runtime, body):
    client, _stub = runtime
    assert process(sqs_event(body), dispatcher(s3, client)) == {"batchItemFailures": []}
    assert s3.objects == {}


@pytest.mark.parametrize(("max_run_s", "expected"), [
    ("1800", 1800 + INVOCATION_MARGIN_S),
    ("7200", MAX_INVOCATION_TIMEOUT_S),  # SageMaker's own limit
])
def test_the_invocation_timeout_covers_one_attempt_from_the_environment(monkeypatch, s3, runtime, max_run_s,
                                                                         expected):
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("MAX_RUN_S", max_run_s)
    client, stub = runtime
    built = Dispatcher.from_settings(DispatchSettings(), s3, client)
    assert (built.bucket, built.endpoint_name, built.invocation_timeout_s) == (BUCKET, ENDPOINT, expected)
    message = job_message()
    expect_invocation(stub, message.job_id, expected)
    assert built.dispatch(message.model_dump_json()) == message.job_id
