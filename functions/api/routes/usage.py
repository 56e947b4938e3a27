"""``GET /api/v1/usage``: the caller's account's quotas, what the current windows used and when they reset."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from functions.api.deps import CallerDep
from functions.api.quotas import Quotas
from functions.api.services import Services
from shared.contract import UsageResponse

router = APIRouter(tags=["service"])


def get_quotas(request: Request) -> Quotas:
    """Quotas of the app's services."""
    services: Services = request.app.state.services
    return services.quotas


@router.get("/api/v1/usage", response_model=UsageResponse,
            responses={401: {"description": "Missing or invalid credentials"}})
def usage(quotas: Annotated[Quotas, Depends(get_quotas)], caller: CallerDep) -> UsageResponse:
    """The caller's account's quotas: each limit (0 = unlimited), what the current window used, what is left and
    when the window ends. End users under one API key share that key's account."""
    return quotas.usage(caller)
