"""The HTTP contract's response bodies (``*Public`` / ``*Response``); the request bodies are in ``shared.contract``.

Field names, defaults and status strings follow the existing frontend's contract; fields marked "addition" are new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared import licences as model_licences
from shared.contract import FailureCode, Meter
from shared.formats import FileFormat, OutputKind


class GenerateResponse(BaseModel):
    """Answer to an accepted ``POST /api/v1/generate``."""

    job_id: str
    status: str
    queue_position: int | None
    estimated_wait_minutes: int | None
    message: str
    seed: int = Field(description="Addition: the seed the job will use")
    warnings: list[str] = Field(default_factory=list, description="Addition: e.g. lyrics without timestamps")
    status_url: str = Field(description="Addition: where to poll")


class ProgressPublic(BaseModel):
    """Where a running job is."""

    stage: str
    percent: float


class OutputPublic(BaseModel):
    """One produced file."""

    index: int
    format: FileFormat
    size_bytes: int
    kind: OutputKind = Field(OutputKind.SONG, description="Addition: song (one per variation), vocals, accompaniment "
                             "(stems), peaks (a song's waveform, json), lyrics (the lyrics as placed: lrc and json)")
    score: float | None = Field(None, description="Addition: a song's similarity to the requested style (-1..1)")
    lyrics_accuracy: float | None = Field(None, description="Addition: a song's lyric check, the share of its "
                                          "lyrics heard as written (0..1; null: instrumental, or not checked)")
    content_credentials: bool = Field(False, description="Addition: the file carries a C2PA manifest signed by this "
                                      "service (check it with diffrhythm verify-provenance)")
    download_url: str = Field(description="API path that redirects to a short-lived S3 URL")


class JobStatusResponse(BaseModel):
    """Body of ``GET /api/v1/status/{job_id}``."""

    job_id: str
    status: str = Field(description="queued | processing | completed | failed | cancelled")
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None = Field(description="When the job reached a final state")
    output_file: str | None = Field(description="S3 key of the first WAV")
    s3_url: str | None = Field(description="Short-lived presigned URL of the first WAV")
    error: str | None
    error_code: FailureCode | None = Field(None, description="Addition: why the job failed (null unless failed); "
                                           "docs/api.md lists the codes")
    queue_position: int | None
    estimated_wait_minutes: int | None
    progress: ProgressPublic | None = None
    outputs: list[OutputPublic] = Field(default_factory=list)
    audio_length: int
    batch_size: int
    seed: int
    updated_at: datetime


class JobListResponse(BaseModel):
    """A page of the caller's jobs, newest first."""

    jobs: list[JobStatusResponse]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page")


class QueueResponse(BaseModel):
    """Body of ``GET /api/v1/queue``."""

    queue_length: int
    current_job: str | None = Field(description="The caller's job being generated now, if any")
    estimated_wait_minutes: int
    in_flight: int = Field(description="Addition: jobs being generated now")


class LicencePublic(BaseModel):
    """A model the service runs and its licence (``shared.licences``)."""

    component: str
    licence: str = Field(description="SPDX identifier, or the publisher's licence tag")
    name: str
    url: str
    non_commercial: bool = Field(description="True: the licence forbids commercial use")
    terms: str


def licences_public() -> list[LicencePublic]:
    """Every model's licence, as the root and health answers name them."""
    return [LicencePublic.model_validate(entry) for entry in model_licences.summary()]


class HealthResponse(BaseModel):
    """Body of ``GET /api/v1/health``; docs/api.md says what each field means serverless."""

    status: Literal["healthy", "degraded"]
    models_loaded: bool
    device: str
    queue_length: int
    active_jobs: int
    version: str
    licences: list[LicencePublic] = Field(default_factory=licences_public, description="Addition: the models' "
                                          "licences (a paid deployment must know that MuQ-MuLan is non-commercial)")
    non_commercial: bool = Field(default_factory=model_licences.non_commercial, description="Addition: whether a model "
                                 "the service runs forbids commercial use")


class RootResponse(BaseModel):
    """Body of ``GET /``."""

    service: str
    version: str
    status: Literal["running"]
    endpoints: dict[str, str]
    licences: list[LicencePublic] = Field(default_factory=licences_public, description="Addition: the models' "
                                          "licences")
    non_commercial: bool = Field(default_factory=model_licences.non_commercial, description="Addition: whether a model "
                                 "the service runs forbids commercial use")


class UploadResponse(BaseModel):
    """Where and how to PUT the file, and the key to pass as reference_audio_key."""

    key: str
    upload_url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    expires_in: int


class QuotaUsage(BaseModel):
    """One quota of the caller's account in its current window."""

    name: Meter = Field(description="units_per_hour (cost units: 1 = one default job), jobs_per_hour, "
                        "gpu_seconds_per_day or uploads_per_day")
    limit: int = Field(ge=0, description="The most the account may use per window; 0 = unlimited")
    used: int = Field(ge=0, description="Used in the current window")
    remaining: int | None = Field(ge=0, description="What is left in the current window; null when unlimited")
    resets_at: datetime = Field(description="When the current window ends (windows are fixed UTC hours or days)")


class UsageResponse(BaseModel):
    """Body of ``GET /api/v1/usage`` (addition): the caller's account's quotas, never another account's."""

    account_kind: Literal["key", "end_user", "user", "anonymous"] = Field(
        description="How the caller is identified: key (an API key), end_user (X-End-User under a key: the quotas are "
        "the key's, shared by its end users), user (signed in) or anonymous")
    quotas: list[QuotaUsage]
