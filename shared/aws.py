"""boto3 clients built from the settings: the only place that knows about endpoints.

In AWS ``aws_endpoint_url`` is empty; locally and in tests it points at the moto server.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from shared.settings import Settings

Service = Literal["s3", "sqs", "dynamodb", "sagemaker-runtime", "secretsmanager", "cognito-idp", "cloudformation"]
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, signature_version="s3v4")


@lru_cache(maxsize=16)
def _client(service: Service, region: str, endpoint_url: str | None) -> Any:
    return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint_url, config=_CONFIG)


def conditional_failed(error: ClientError) -> bool:
    """Whether ``error`` is DynamoDB refusing a write whose condition did not hold."""
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def client(service: Service, settings: Settings) -> Any:
    """A cached boto3 client for ``service`` (``Service``) with the settings' endpoint."""
    return _client(service, settings.aws_region, settings.aws_endpoint_url or None)
