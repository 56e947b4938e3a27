"""Deployment settings, read from environment variables (never at import time).

Every name is the upper-case field name, e.g. ``BUCKET_NAME``. The AWS endpoint is boto3's own
``AWS_ENDPOINT_URL``: empty in AWS, the moto server's address locally. Nothing else differs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Names of the AWS resources and the service's limits."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # Resources
    bucket_name: str = "diffrhythm-local"
    table_name: str = "diffrhythm-jobs"
    queue_url: str = ""
    dlq_url: str = ""
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None

    # Access (functions/api/auth.py): API keys in the keys table, signed-in users' JWTs, or (local stack only) nobody
    keys_table_name: str = Field("", description="DynamoDB table of the hashed API keys (shared/accounts.py); empty "
                                 "= no API keys")
    key_cache_ttl_s: float = Field(60.0, ge=0, description="How long the API trusts a looked-up key: a revoked key "
                                   "stops working within this")
    oidc_issuer: str = Field("", description="The OIDC issuer (``iss``) whose JWTs sign users in, e.g. a Cognito user "
                             "pool's https://cognito-idp.{region}.amazonaws.com/{pool_id}; empty = no sign-in")
    oidc_audiences: CommaList = Field(default_factory=list, description="Accepted ``aud`` (or Cognito access tokens' "
                                      "``client_id``) values: the app client ids")
    oidc_jwks_url: str = Field("", description="Where the issuer's signing keys are; empty = {issuer}/.well-known/"
                               "jwks.json (the local stack points it at the moto server)")
    allow_anonymous: bool = Field(False, description="Requests without credentials are the owner 'anonymous' (the "
                                  "local stack only: the API refuses to start with it in Lambda)")
    cors_origins: CommaList = Field(default_factory=list, description="Browser origins allowed to call the API")

    # Default quotas of an account (a key may override each; 0 = unlimited). Counted per account: a key's end users
    # share their key's; a signed-in user has their own.
    rate_limit_per_hour: int = Field(
        40, ge=0, description="Cost units one account may submit per clock hour (1 unit = one default job: 95 s, the "
        "default preset's steps, one variation; see shared.contract.cost_units); 0 = no limit")
    jobs_per_hour: int = Field(0, ge=0, description="Jobs one account may submit per clock hour")
    gpu_seconds_per_day: int = Field(0, ge=0, description="GPU seconds one account's jobs may use per UTC day; a "
                                     "submit after the day's budget is spent is refused")
    uploads_per_day: int = Field(0, ge=0, description="Reference-clip uploads one account may start per UTC day")

    # Limits
    max_body_bytes: int = 256 * 1024
    max_upload_bytes: int = 50 * 1024 * 1024
    presign_ttl_s: int = Field(300, ge=1, le=3600)
    job_ttl_days: int = Field(30, ge=1)
    orphan_after_s: int = Field(300, ge=1, description="A QUEUED job not enqueued this long after its creation is "
                                "sent (again)")

    # Reconciler (functions/status/reconcile.py)
    max_run_s: float = Field(1800.0, gt=0, description="How long one attempt of one job may run (the worker's limit "
                             "too)")
    stale_after_s: int = Field(900, ge=1, description="A RUNNING job whose lease ended this long ago is stale")
    max_attempts: int = Field(3, ge=1, description="Attempts of a job (the job queue's maxReceiveCount)")
    max_queued_s: int = Field(172800, ge=1, description="A job queued this long is failed timed_out (SQS keeps "
                              "messages 4 days)")
    notify_after_s: int = Field(60, ge=0, description="A final job whose webhook event is still not queued this long "
                                "after it ended (its status event dropped or failed) gets it queued by the reconciler")
    resend_queued_after_s: int = Field(
        0, ge=0, description="A job still queued this long after its message was sent is sent again; 0 = never. "
        "Only for SageMaker mode, whose dispatcher deletes each message once the endpoint accepted it: should the "
        "endpoint drop the job before claiming it, nothing else would run it")

    root_path: str = Field("", description="Public path prefix before the app's paths, e.g. /prod (API stage)")

    # Status, webhooks and metrics
    webhook_queue_url: str = Field("", description="WebhookQueue: one message per final job with a webhook_url")
    content_credentials_secret_id: str = Field("", description="Secrets Manager name or ARN of the key that signs "
                                               "every song's C2PA manifest (the worker); empty: unsigned")
    webhook_secret_id: str = Field("", description="Secrets Manager name or ARN of the webhook master secret (each "
                                   "API key signs with its own secret derived from it: shared/webhooks.py)")
    webhook_timeout_s: float = Field(5.0, gt=0, description="One webhook attempt's deadline, in all")
    webhook_backoff_s: float = Field(30.0, ge=0, description="A failed webhook attempt is tried again after this, "
                                     "doubling per attempt up to 15 minutes (WebhookQueue's maxReceiveCount attempts)")
    allow_insecure_webhooks: bool = Field(
        False, description="Accept http:// and private or loopback webhook targets (the local stack only)")
    metrics_enabled: bool = True
    estimated_job_minutes: float = Field(2.0, gt=0, description="Typical GPU time per job, for wait estimates")
    worker_capacity: int = Field(1, ge=1, description="Jobs processed in parallel at full scale")
    service_version: str = "0.1.0"

    @field_validator("cors_origins", "oidc_audiences", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
