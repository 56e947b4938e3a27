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


class DeferredClient:
    """Stands for ``client(service, settings)`` and builds it on first use: whatever holds one (the API's services)
    can be built without creating a client (about 0.1 s each) or touching the network. Each use asks ``client`` again
    (a cache hit), so after ``reset_clients`` the next use gets a new client."""

    def __init__(self, service: Service, settings: Settings) -> None:
        self.service, self.settings = service, settings

    def __getattr__(self, name: str) -> Any:
        return getattr(client(self.service, self.settings), name)

    def __repr__(self) -> str:
        return f"DeferredClient({self.service!r})"


def deferred_client(service: Service, settings: Settings) -> Any:
    """``client(service, settings)``, built when first used (``DeferredClient``)."""
    return DeferredClient(service, settings)


def reset_clients() -> None:
    """Forget the cached clients: the next ``client`` call builds new ones (after a Lambda SnapStart restore, so that
    no client, its credentials or its connection pool, comes from the snapshot)."""
    _client.cache_clear()


def clients_built() -> int:
    """How many clients the cache holds now."""
    return _client.cache_info().currsize
