"""``POST /api/v1/uploads``: a presigned PUT for a reference clip."""

from __future__ import annotations

from fastapi import APIRouter

from functions.api.deps import CallerDep, UploadsDep
from shared.contract import UploadRequest
from shared.responses import UploadResponse

router = APIRouter(tags=["uploads"])


@router.post("/api/v1/uploads", status_code=201, response_model=UploadResponse)
def create_upload(request: UploadRequest, uploads: UploadsDep, caller: CallerDep) -> UploadResponse:
    """Get a URL to PUT one audio file to; pass the returned ``key`` as ``reference_audio_key`` (or in ``edit``)."""
    return uploads.create(request, caller)
