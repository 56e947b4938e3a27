"""Dependencies of the routes, as ``Annotated`` aliases: settings, the API's components and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from functions.api.auth import Authenticator
from functions.api.cancellation import Cancellations
from functions.api.queue_stats import QueueStats
from functions.api.quotas import Quotas
from functions.api.reads import JobReads
from functions.api.services import Services
from functions.api.submission import Submissions
from functions.api.uploads import Uploads
from shared.accounts import Caller
from shared.settings import Settings

_api_key_header = APIKeyHeader(name="X-API-Key", scheme_name="ApiKey", auto_error=False,
                               description="A customer's API key (server to server, or a frontend that ships one)")
_bearer = HTTPBearer(scheme_name="BearerJWT", bearerFormat="JWT", auto_error=False,
                     description="A signed-in user's token from the service's user pool (or OIDC issuer)")


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


def get_quotas(request: Request) -> Quotas:
    """Quotas: charging and reporting the caller's account."""
    return _services(request).quotas


def get_authenticator(request: Request) -> Authenticator:
    """How the app tells callers apart."""
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


def get_caller(
    authenticator: Annotated[Authenticator, Depends(get_authenticator)],
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    end_user: Annotated[str | None, Header(alias="X-End-User", description=(
        "With an API key: the end user the key acts for (1 to 128 printable ASCII characters); each end user sees "
        "only their own jobs"))] = None,
) -> Caller:
    """The caller (``functions.api.auth``): 401 without valid credentials (unless the service allows anonymous
    callers), 400 for ambiguous ones."""
    return authenticator.authenticate(api_key, bearer.credentials if bearer else None, end_user)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SubmissionsDep = Annotated[Submissions, Depends(get_submissions)]
ReadsDep = Annotated[JobReads, Depends(get_reads)]
CancellationsDep = Annotated[Cancellations, Depends(get_cancellations)]
UploadsDep = Annotated[Uploads, Depends(get_uploads)]
StatsDep = Annotated[QueueStats, Depends(get_stats)]
QuotasDep = Annotated[Quotas, Depends(get_quotas)]
CallerDep = Annotated[Caller, Depends(get_caller)]
