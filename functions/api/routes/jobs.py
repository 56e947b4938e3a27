"""Reading, listing, cancelling and downloading the caller's jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse

from functions.api.deps import CallerDep, CancellationsDep, ReadsDep
from shared.contract import MAX_VARIATIONS
from shared.formats import FileFormat, OutputKind
from shared.responses import JobListResponse, JobStatusResponse

router = APIRouter(tags=["jobs"])
_NOT_FOUND: dict[int | str, dict[str, str]] = {404: {"description": "No such job for this caller"}}


@router.get("/api/v1/status/{job_id}", response_model=JobStatusResponse, responses=_NOT_FOUND)
def status(job_id: str, reads: ReadsDep, caller: CallerDep) -> JobStatusResponse:
    """State, timestamps, queue position, progress, error and outputs of one job."""
    return reads.view(reads.get_owned(job_id, caller.owner))


@router.get("/api/v1/jobs/{job_id}", response_model=JobStatusResponse, responses=_NOT_FOUND)
def get_job(job_id: str, reads: ReadsDep, caller: CallerDep) -> JobStatusResponse:
    """The same as ``GET /api/v1/status/{job_id}``."""
    return reads.view(reads.get_owned(job_id, caller.owner))


@router.delete("/api/v1/jobs/{job_id}", response_model=JobStatusResponse,
               responses={**_NOT_FOUND, 409: {"description": "The job is already finished"}})
def cancel(job_id: str, cancellations: CancellationsDep, reads: ReadsDep, caller: CallerDep) -> JobStatusResponse:
    """Cancel a queued or running job. A running job stops at its worker's next stage boundary."""
    return reads.view(cancellations.cancel(job_id, caller.owner))


@router.get("/api/v1/jobs", response_model=JobListResponse)
def list_jobs(
    reads: ReadsDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    include_urls: Annotated[bool, Query(description="Add each completed job's presigned s3_url")] = False,
    include_positions: Annotated[bool, Query(
        description="Add queue_position and estimated_wait_minutes to queued jobs (one count per job)")] = False,
) -> JobListResponse:
    """The caller's jobs, newest first. Rows leave ``s3_url``, ``queue_position`` and ``estimated_wait_minutes``
    null unless asked for: a page is then one query."""
    return reads.page(caller.owner, limit, cursor, urls=include_urls, positions=include_positions)


@router.get("/api/v1/download/{job_id}", status_code=302, response_class=RedirectResponse,
            responses={**_NOT_FOUND, 400: {"description": "The job is not completed"},
                       302: {"description": "Redirect to a short-lived S3 URL"}})
def download(
    job_id: str,
    reads: ReadsDep,
    caller: CallerDep,
    format: Annotated[FileFormat | None, Query(description="File format; WAV unless given (LRC for lyrics, JSON for "
                                               "peaks)")] = None,
    index: Annotated[int, Query(ge=0, le=MAX_VARIATIONS - 1, description="Which variation")] = 0,
    kind: Annotated[OutputKind, Query(description="Addition: song, vocals, accompaniment, peaks or lyrics")
                    ] = OutputKind.SONG,
) -> RedirectResponse:
    """Redirect to the file (the song's WAV unless asked otherwise). The bytes never pass through the API."""
    return RedirectResponse(reads.download_url(job_id, caller.owner, format, index, kind), status_code=302)
