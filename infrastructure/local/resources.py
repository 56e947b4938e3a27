"""Create, on the moto server, the bucket, queues, tables, webhook secret and user pool that ``template.yaml`` declares.

The template is the source: key schemas, indexes, TTL, redrive policies, visibility timeouts, bucket CORS and
lifecycle, which keys notify which function, the user pool's password policy and its app client are read from it. The
local-only parts: ``local-s3-events``, an SQS queue the bucket notifies so the local dispatcher can deliver
object-created events to the status function and the upload check (AWS invokes them directly); the webhook master
secret's value (``LOCAL_WEBHOOK_SECRET``, generated in AWS); and the app client's admin sign-in flow, with which
``LocalStack.sign_up`` issues tokens for tests and the demo page (a browser signs in with SRP).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from infrastructure.local.template import resource, s3_event_filters
from shared.aws import client
from shared.settings import Settings

EVENTS_QUEUE = "local-s3-events"
LOCAL_WEBHOOK_SECRET = "local-webhook-secret"  # the webhook master secret's value here (generated in AWS)
WEBHOOK_SECRET_NAME = "diffrhythm-local/webhook-signing"
CONTENT_CREDENTIALS_NAME = "diffrhythm-local/content-credentials"
#: the auth flow ``LocalStack.sign_up`` signs in with (server side, the moto server's admin credentials)
ADMIN_SIGN_IN_FLOW = "ALLOW_ADMIN_USER_PASSWORD_AUTH"
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
    keys_table_name: str
    webhook_secret_id: str  # the secret's ARN, as the template passes it
    user_pool_id: str
    user_pool_client_id: str
    content_credentials_secret_id: str  # the songs' signing key (a LOCAL TEST chain made here)
    provenance_anchor: str  # that chain's root certificate (PEM): what `diffrhythm verify-provenance` trusts

    @property
    def oidc_issuer(self) -> str:
        """The ``iss`` of the user pool's tokens (moto issues them as Cognito does)."""
        return f"https://cognito-idp.{self.user_pool_id.split('_', 1)[0]}.amazonaws.com/{self.user_pool_id}"

    def oidc_jwks_url(self, endpoint_url: str) -> str:
        """Where the moto server at ``endpoint_url`` serves the user pool's signing keys."""
        return f"{endpoint_url}/{self.user_pool_id}/.well-known/jwks.json"


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


def create_table(settings: Settings, logical_id: str, table_name: str) -> None:
    """A table of the template (``JobsTable``, ``ApiKeysTable``) named ``table_name``, with its keys, indexes and
    TTL attribute as declared."""
    dynamodb = client("dynamodb", settings)
    props = resource(logical_id)
    indexes = {"GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"]} if "GlobalSecondaryIndexes" in props else {}
    dynamodb.create_table(TableName=table_name, BillingMode=props["BillingMode"], KeySchema=props["KeySchema"],
                          AttributeDefinitions=props["AttributeDefinitions"], **indexes)
    if "TimeToLiveSpecification" in props:
        dynamodb.update_time_to_live(TableName=table_name, TimeToLiveSpecification=props["TimeToLiveSpecification"])


def create_webhook_secret(settings: Settings, value: str = LOCAL_WEBHOOK_SECRET) -> str:
    """The webhook master secret (``WebhookSigningSecret``) holding ``value``; returns its ARN."""
    props = resource("WebhookSigningSecret")
    created = client("secretsmanager", settings).create_secret(
        Name=WEBHOOK_SECRET_NAME, Description=props["Description"], SecretString=value)
    arn: str = created["ARN"]
    return arn


def create_content_credentials_secret(settings: Settings) -> tuple[str, str]:
    """The songs' signing key (``ContentCredentialsSecret``, which ``diffrhythm credentials create`` fills in AWS):
    a self-signed chain made here, labelled LOCAL TEST; returns the secret's ARN and the chain's root (PEM)."""
    from inference_container.audio.credentials import SigningKey

    key = SigningKey.create("DiffRhythm local stack", label="LOCAL TEST")
    props = resource("ContentCredentialsSecret")
    created = client("secretsmanager", settings).create_secret(
        Name=CONTENT_CREDENTIALS_NAME, Description=props["Description"], SecretString=key.to_secret())
    return str(created["ARN"]), key.anchor


def create_user_pool(settings: Settings) -> tuple[str, str]:
    """The user pool and its browser app client as the template declares them (``UserPool``, ``UserPoolClient``),
    the client also allowing ``ADMIN_SIGN_IN_FLOW``; returns the pool's and the client's ids."""
    idp = client("cognito-idp", settings)
    pool = resource("UserPool")
    pool_id: str = idp.create_user_pool(
        PoolName="diffrhythm-local-users", Policies=pool["Policies"], UsernameAttributes=pool["UsernameAttributes"],
        AutoVerifiedAttributes=pool["AutoVerifiedAttributes"])["UserPool"]["Id"]
    app = resource("UserPoolClient")
    client_id: str = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="diffrhythm-local-web", GenerateSecret=app["GenerateSecret"],
        ExplicitAuthFlows=[*app["ExplicitAuthFlows"], ADMIN_SIGN_IN_FLOW],
        SupportedIdentityProviders=app["SupportedIdentityProviders"])["UserPoolClient"]["ClientId"]
    return pool_id, client_id


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
    create_table(settings, "JobsTable", settings.table_name)
    create_table(settings, "ApiKeysTable", settings.keys_table_name)
    secret_arn = create_webhook_secret(settings)
    credentials_arn, anchor = create_content_credentials_secret(settings)
    pool_id, client_id = create_user_pool(settings)
    # S3 sends a test event when notifications are configured; drop it
    sqs.purge_queue(QueueUrl=events_url)
    return LocalResources(settings.bucket_name, settings.table_name, queue_url, dlq_url, events_url, webhook_url,
                          webhook_dlq_url, settings.keys_table_name, secret_arn, pool_id, client_id, credentials_arn,
                          anchor)
