"""``POST /api/v1/generate`` (and the hidden legacy alias ``POST /api/generate``)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from fastapi import APIRouter, Header, Response

from functions.api.deps import CallerDep, ReadsDep, SubmissionsDep
from shared.contract import GenerateRequest
from shared.responses import GenerateResponse

router = APIRouter(tags=["jobs"])
metrics = Metrics(namespace="DiffRhythm", service="api")

_RESPONSES: dict[int | str, dict[str, str]] = {
    200: {"description": "Replay of an earlier submit with the same Idempotency-Key"},
    400: {"description": "Ambiguous credentials (X-API-Key and Authorization both), or a bad X-End-User"},
    401: {"description": "Missing or unknown X-API-Key, or an invalid bearer token"},
    409: {"description": "Idempotency-Key reused with a different body"},
    422: {"description": "A field is invalid; each error names it (lyrics errors name the line)"},
    429: {"description": "Rate limit reached; see Retry-After"},
}


@router.post("/api/v1/generate", status_code=202, response_model=GenerateResponse, responses=_RESPONSES)
def generate(
    request: GenerateRequest,
    response: Response,
    submissions: SubmissionsDep,
    reads: ReadsDep,
    caller: CallerDep,
    idempotency_key: Annotated[str | None, Header(max_length=255, description="Makes retries safe")] = None,
) -> GenerateResponse:
    """Queue a song. The job runs on a GPU worker; poll ``status_url`` until ``completed`` or ``failed``."""
    submission = submissions.submit(request, caller, idempotency_key)
    record = submission.record
    if submission.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    else:
        metrics.add_metric(name="JobsSubmitted", unit=MetricUnit.Count, value=1)
    view = reads.view(record)
    message = ("Job queued successfully. Poll the status URL for progress." if view.status == "queued"
               else f"Job already exists and is {view.status}.")
    return GenerateResponse(
        job_id=record.job_id, status=view.status, queue_position=view.queue_position,
        estimated_wait_minutes=view.estimated_wait_minutes, message=message, seed=record.seed,
        warnings=submission.warnings, status_url=f"/api/v1/status/{record.job_id}",
    )


router.add_api_route("/api/generate", generate, methods=["POST"], status_code=202, response_model=GenerateResponse,
                     include_in_schema=False)
