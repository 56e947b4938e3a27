"""The Lambda handlers called with the event shapes AWS sends (``sam local generate-event``), against moto."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

from functions.api import app as api_app
from functions.status import dead_letter
from functions.status import handler as status
from infrastructure.local.dispatcher import LambdaContext
from shared import keys
from shared.records import JobMessage
from tests.worker_sim import write_outputs

EVENTS = Path(__file__).resolve().parents[1] / "events"


def _event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_api_handler_serves_an_api_gateway_proxy_event(stack):
    event = _event("apigateway-aws-proxy.json")
    response = api_app.handler(event, LambdaContext("ApiFunction"))
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "healthy"


def test_docs_behind_an_api_gateway_stage_point_at_the_staged_schema(stack):
    from functions.api.app import create_app

    app = create_app(stack.settings.model_copy(update={"root_path": "/prod"}))
    handler = __import__("mangum").Mangum(app, lifespan="off")
    event = _event("apigateway-aws-proxy.json")
    event.update(path="/docs", queryStringParameters=None, multiValueQueryStringParameters=None)
    docs = handler(event, LambdaContext("ApiFunction"))
    assert docs["statusCode"] == 200 and "/prod/openapi.json" in docs["body"]
    event.update(path="/api/v1/health")
    assert handler(event, LambdaContext("ApiFunction"))["statusCode"] == 200


def test_api_handler_submits_through_a_proxy_event(stack, api_key):
    event = _event("apigateway-aws-proxy.json")
    event.update(httpMethod="POST", path="/api/v1/generate", isBase64Encoded=True, queryStringParameters=None,
                 multiValueQueryStringParameters=None,
                 body=base64.b64encode(json.dumps({"lyrics": "[00:01.00]hello there", "style_prompt": "jazz"})
                                       .encode()).decode())
    event["headers"] = {**event["headers"], "X-API-Key": api_key, "Content-Type": "application/json"}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    response = api_app.handler(event, LambdaContext("ApiFunction"))
    assert response["statusCode"] == 202, response["body"]


def test_status_handler_accepts_the_aws_s3_event_shape(api, aws, settings):
    job_id = api.submit()["job_id"]
    write_outputs(aws("s3"), settings.bucket_name, job_id)
    event = _event("s3-put.json")
    event["Records"][0]["s3"]["object"]["key"] = keys.manifest_key(job_id)
    result = status.handler(copy.deepcopy(event), LambdaContext("StatusFunction"))
    assert result["records"] == 1
    assert api.status(job_id)["status"] == "completed"
    again = status.handler(event, LambdaContext("StatusFunction"))
    assert again == {"records": 1, "changed": 0}


def test_status_handler_decodes_plus_encoded_keys_and_ignores_others(stack):
    event = _event("s3-put.json")
    event["Records"][0]["s3"]["object"]["key"] = "outputs/some+folder/not+a+manifest.wav"
    assert status.handler(event, LambdaContext("StatusFunction")) == {"records": 1, "changed": 0}


def test_dead_letter_handler_reports_no_failures_for_unparseable_bodies(api, aws, settings):
    job_id = api.submit()["job_id"]
    event = _event("sqs-receive-message.json")
    good = copy.deepcopy(event["Records"][0])
    good["messageId"] = "good"
    good["body"] = JobMessage(job_id=job_id, owner="x", request_key=keys.request_key(job_id), model="95s",
                              submitted_at="2026-01-01T00:00:00Z").model_dump_json()
    event["Records"].append(good)
    result = dead_letter.handler(event, LambdaContext("DeadLetterFunction"))
    assert result == {"batchItemFailures": []}
    failure = aws("s3").get_object(Bucket=settings.bucket_name, Key=keys.failure_key(job_id))
    assert json.loads(failure["Body"].read())["code"] == "dead_letter"
