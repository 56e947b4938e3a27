"""Create, on the moto server, the bucket, queues and table that ``template.yaml`` declares.

The template is the source: key schema, indexes, TTL, redrive policies, visibility timeouts, bucket CORS and
lifecycle, and which keys notify which function are read from it. The one local-only resource is ``local-s3-events``,
an SQS queue the bucket notifies so the local dispatcher can deliver object-created events to the status function and
the upload check (AWS invokes them directly).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from infrastructure.local.template import resource, s3_event_filters
from shared.aws import client
from shared.settings import Settings

EVENTS_QUEUE = "local-s3-events"
#: the functions the bucket notifies (template logical ids); the dispatcher routes each key by the same filters
S3_FUNCTIONS = ("StatusFunction", "UploadCheckFunction")


@dataclass(frozen=True)
class LocalResources:
    """Names and URLs of what was created."""

    bucket_name: str
    table_name: str
    queue_url: str
    dlq_url: str
    events_queue_url: str
    webhook_queue_url: str
    webhook_dlq_url: str


def create_bucket(settings: Settings, events_queue_arn: str) -> None:
    """The audio bucket with the template's CORS rules and lifecycle, notifying the local events queue."""
    s3 = client("s3", settings)
    props = resource("AudioBucket")
    s3.create_bucket(Bucket=settings.bucket_name)
    rules = [
        {"ID": rule["Id"], "AllowedOrigins": rule["AllowedOrigins"], "AllowedMethods": rule["AllowedMethods"],
         "AllowedHeaders": rule.get("AllowedHeaders", []), "ExposeHeaders": rule.get("ExposedHeaders", []),
         "MaxAgeSeconds": rule.get("MaxAge", 0)}
        for rule in props["CorsConfiguration"]["CorsRules"]
    ]
    s3.put_bucket_cors(Bucket=settings.bucket_name, CORSConfiguration={"CORSRules": rules})
    lifecycle = [
        {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")},
         "Expiration": {"Days": settings.job_ttl_days}}
        for rule in props["LifecycleConfiguration"]["Rules"]
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=settings.bucket_name, LifecycleConfiguration={"Rules": lifecycle})
    configs = []
    for event in (event for function_id in S3_FUNCTIONS for event in s3_event_filters(function_id)):
        rules = event.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        configs.append({"QueueArn": events_queue_arn, "Events": [event["Events"]],
                        "Filter": {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}})
    s3.put_bucket_notification_configuration(Bucket=settings.bucket_name,
                                             NotificationConfiguration={"QueueConfigurations": configs})


def create_queue(settings: Settings, logical_id: str, queue_name: str, dlq_name: str) -> tuple[str, str]:
    """A queue of the template (``JobQueue``, ``WebhookQueue``) and its dead-letter queue, as declared."""
    sqs = client("sqs", settings)
    dlq_url = sqs.create_queue(QueueName=dlq_name)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    props = resource(logical_id)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(props["RedrivePolicy"]["maxReceiveCount"])}
    queue_url = sqs.create_queue(QueueName=queue_name, Attributes={
        "VisibilityTimeout": str(props["VisibilityTimeout"]), "RedrivePolicy": json.dumps(redrive)})["QueueUrl"]
    return queue_url, dlq_url


def create_table(settings: Settings) -> None:
    """The job table with the template's keys, indexes and TTL attribute."""
    dynamodb = client("dynamodb", settings)
    props = resource("JobsTable")
    dynamodb.create_table(
        TableName=settings.table_name, BillingMode=props["BillingMode"], KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"], GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    ttl = props["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(TableName=settings.table_name, TimeToLiveSpecification=ttl)


def create_all(settings: Settings, queue_name: str = "diffrhythm-jobs", dlq_name: str = "diffrhythm-jobs-dlq"
               ) -> LocalResources:
    """Everything the control plane needs, on the endpoint of ``settings``."""
    queue_url, dlq_url = create_queue(settings, "JobQueue", queue_name, dlq_name)
    webhook_url, webhook_dlq_url = create_queue(settings, "WebhookQueue", f"{queue_name}-webhooks",
                                                f"{queue_name}-webhooks-dlq")
    sqs = client("sqs", settings)
    events_url = sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    create_bucket(settings, events_arn)
    create_table(settings)
    # S3 sends a test event when notifications are configured; drop it
    sqs.purge_queue(QueueUrl=events_url)
    return LocalResources(settings.bucket_name, settings.table_name, queue_url, dlq_url, events_url, webhook_url,
                          webhook_dlq_url)
