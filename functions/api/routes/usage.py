"""``GET /api/v1/usage``: the caller's account's quotas, what the current windows used and when they reset."""

from __future__ import annotations

from fastapi import APIRouter

from functions.api.deps import CallerDep, QuotasDep
from shared.responses import UsageResponse

router = APIRouter(tags=["service"])


@router.get("/api/v1/usage", response_model=UsageResponse,
            responses={401: {"description": "Missing or invalid credentials"}})
def usage(quotas: QuotasDep, caller: CallerDep) -> UsageResponse:
    """The caller's account's quotas: each limit (0 = unlimited), what the current window used, what is left and
    when the window ends. End users under one API key share that key's account."""
    return quotas.usage(caller)
