"""The API function: FastAPI app, middleware and the Lambda handler (Mangum). Wiring only.

Lambda SnapStart (template.yaml: published versions of the ``live`` alias) snapshots the process after init and
restores copies of it. Importing this module builds nothing; ``prime``, run before the snapshot, builds the app, its
OpenAPI schema and the tracer, none of which holds a connection, a credential or randomness (the app's AWS clients are
deferred: ``shared.aws.deferred_client``; the X-Ray SDK's UDP emitter is connectionless, and in Lambda it samples
nothing itself). ``refresh``, run after each restore, drops any cached AWS client and reseeds
``random`` (botocore's retry jitter), which every copy of the snapshot would otherwise share.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from mangum import Mangum

from functions.api import errors
from functions.api.auth import Authenticator
from functions.api.middleware import (
    BodyLimitMiddleware,
    ErrorMiddleware,
    RootPathMiddleware,
    SecurityHeadersMiddleware,
)
from functions.api.routes import generate, jobs, service_info, uploads, usage
from functions.api.services import Services
from functions.observability import lambda_entry
from shared.aws import reset_clients
from shared.settings import Settings, get_settings

try:  # in Lambda's Python runtimes (SnapStart's runtime hooks); elsewhere nothing is snapshotted and nothing calls them
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:
    def register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return func

    def register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return func

logger = Logger(service="api")


def create_app(settings: Settings | None = None, services: Services | None = None,
               authenticator: Authenticator | None = None) -> FastAPI:
    """Build the API for ``settings`` (the environment's when omitted) over ``services`` (by default, the AWS
    resources the settings name), telling callers apart with ``authenticator`` (by default, the keys table and the
    issuer the settings name). Raises ``RuntimeError`` when the settings leave the API without authentication where
    that is not allowed (``Authenticator.from_settings``)."""
    settings = settings or get_settings()
    authenticator = authenticator or Authenticator.from_settings(settings)  # first: a refused start builds nothing
    app = FastAPI(title="DiffRhythm song generation API", version=settings.service_version,
                  description="Queue songs from lyrics and a style; poll their status; download the audio.")
    app.state.settings = settings
    app.state.authenticator = authenticator
    app.state.services = services or Services.from_settings(settings)
    for module in (service_info, generate, jobs, uploads, usage):
        app.include_router(module.router)
    errors.install(app)
    # added innermost first: CORS wraps everything, so errors and 500s carry its headers too
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ErrorMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(
        CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials="*" not in settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["content-type", "x-api-key", "authorization", "x-end-user", "idempotency-key"],
        expose_headers=["retry-after", "idempotent-replayed", "location", "x-quota-limit", "www-authenticate"],
        max_age=600,
    )
    app.add_middleware(RootPathMiddleware, root_path=settings.root_path)
    return app


_app: FastAPI | None = None
_mangum: Mangum | None = None


def __getattr__(name: str) -> Any:
    """``functions.api.app.app`` builds the app on first use (uvicorn), so importing this module reads no settings."""
    global _app
    if name == "app":
        _app = _app or create_app()
        return _app
    raise AttributeError(name)


def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy event -> FastAPI."""
    global _mangum
    _mangum = _mangum or Mangum(__getattr__("app"), lifespan="off")
    response: dict[str, Any] = _mangum(event, cast(Any, context))
    return response


def prime() -> None:
    """Before the snapshot: what the first request would otherwise pay, done once for every restored copy (the app,
    its OpenAPI schema, the X-Ray SDK the handler's tracer loads). Creates none of the app's AWS clients and opens no
    connection."""
    from aws_lambda_powertools import Tracer

    __getattr__("app").openapi()
    Tracer(service="api")


def refresh() -> None:
    """After a restore: no AWS client from before the snapshot (nor its credentials or pooled connections) is used,
    and this copy draws its own random numbers."""
    reset_clients()
    random.seed()


register_before_snapshot(prime)
register_after_restore(refresh)
handler = lambda_entry(_handle, logger=logger, service="api", metrics=generate.metrics,
                       correlation_id_path="requestContext.requestId")
