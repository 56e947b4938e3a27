"""Dependencies of the routes, as ``Annotated`` aliases: settings, the API's components and the caller's identity."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from functions.api.cancellation import Cancellations
from functions.api.errors import AuthError
from functions.api.queue_stats import QueueStats
from functions.api.reads import JobReads
from functions.api.services import Services
from functions.api.submission import Submissions
from functions.api.uploads import Uploads
from shared.settings import Settings

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Required when the service has keys")


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_submissions(request: Request) -> Submissions:
    """Submitting jobs."""
    return _services(request).submissions


def get_reads(request: Request) -> JobReads:
    """Reading jobs."""
    return _services(request).reads


def get_cancellations(request: Request) -> Cancellations:
    """Cancelling jobs."""
    return _services(request).cancellations


def get_uploads(request: Request) -> Uploads:
    """Granting uploads."""
    return _services(request).uploads


def get_stats(request: Request) -> QueueStats:
    """Queue statistics."""
    return _services(request).stats


def owner_of(api_key: str) -> str:
    """The stable, non-secret id of an API key's owner (used in keys, the index and rate limits)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def get_caller(
    settings: Annotated[Settings, Depends(get_settings)],
    api_key: Annotated[str | None, Security(_api_key_header)],
) -> str:
    """The caller's owner id; 401 when keys are configured and the request has none of them."""
    if not settings.auth_enabled:
        return "anonymous"
    if not api_key:
        raise AuthError("missing X-API-Key header: this service requires an API key",
                        headers={"WWW-Authenticate": "ApiKey"})
    matched = False
    for known in settings.api_keys:  # compare against every key: timing does not reveal which matched
        matched |= hmac.compare_digest(known.encode(), api_key.encode())
    if not matched:
        raise AuthError("X-API-Key: unknown API key", headers={"WWW-Authenticate": "ApiKey"})
    return owner_of(api_key)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SubmissionsDep = Annotated[Submissions, Depends(get_submissions)]
ReadsDep = Annotated[JobReads, Depends(get_reads)]
CancellationsDep = Annotated[Cancellations, Depends(get_cancellations)]
UploadsDep = Annotated[Uploads, Depends(get_uploads)]
StatsDep = Annotated[QueueStats, Depends(get_stats)]
CallerDep = Annotated[str, Depends(get_caller)]
