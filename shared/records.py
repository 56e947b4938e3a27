"""Shapes that cross the service's internal boundaries: the SQS body (``*Message``), the DynamoDB item
(``*Record``) and the JSON objects workers write to S3 (manifest, failure, cancellation)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contract import FailureCode as FailureCode  # re-exported: the job record's and failure record's codes
from shared.contract import GenerateRequest
from shared.formats import FileFormat, OutputFormat, OutputKind
from shared.states import JobState


def utcnow() -> datetime:
    """Timezone-aware now, in UTC."""
    return datetime.now(UTC)


class JobMessage(BaseModel):
    """Body of the SQS message that asks a worker to run one job; the request itself lives in S3."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    owner: str
    request_key: str
    submitted_at: datetime
    enqueued_at: datetime | None = Field(
        None, description="The job's ``enqueued_at`` written with this send: a dead-lettered message older than the "
        "job's current one (the reconciler re-queued it) is superseded, not a failure")


class OutputFile(BaseModel):
    """One produced object, as recorded on the job."""

    index: int = Field(ge=0)
    format: FileFormat
    key: str
    size_bytes: int = Field(ge=0)
    kind: OutputKind = OutputKind.SONG
    score: float | None = None
    lyrics_accuracy: float | None = None
    content_credentials: bool = False


class JobRecord(BaseModel):
    """The job item in DynamoDB (the table adds its key and index attributes; see ``shared.store``)."""

    job_id: str
    owner: str
    account: str | None = Field(None, description="Who is charged for it (``shared.accounts.Caller.account``): its "
                                "GPU seconds are added to this account's usage; None on jobs from before accounts")
    key_id: str | None = Field(None, description="The API key it was submitted with: its webhook secret signs the "
                               "job's webhooks (None: signed-in user, anonymous, or from before keys)")
    status: JobState = JobState.QUEUED
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    enqueued_at: datetime | None = None
    expires_at: int = Field(description="TTL: epoch seconds after which DynamoDB deletes the item")
    request_key: str
    request_sha256: str
    idempotency_key: str | None = None
    audio_length: int
    batch_size: int
    output_format: OutputFormat
    seed: int
    webhook_url: str | None = None
    progress_stage: str | None = None
    progress_percent: float | None = None
    attempts: int = 0
    lease_until: datetime | None = Field(None, description="While RUNNING: until when its worker holds it")
    lease_owner: str | None = Field(None, description="The token of the claim that holds the lease: a worker's lease "
                                    "writes hold only while it is still theirs")
    error: str | None = None
    error_code: FailureCode | None = Field(None, description="Set with ``error`` when the job failed")
    outputs: list[OutputFile] = Field(default_factory=list)
    duration_s: float | None = None
    webhook_queued_at: datetime | None = Field(None, description="When its final-state event was sent to the webhook "
                                               "queue (at least once)")
    webhook_delivered_at: datetime | None = None
    webhook_error: str | None = None

    @staticmethod
    def ttl(created_at: datetime, days: int) -> int:
        """The TTL attribute value for a job created at ``created_at`` kept ``days`` days."""
        return int((created_at + timedelta(days=days)).timestamp())


class ActiveJob(BaseModel):
    """A queued or running job as the active-job index projects it (``shared.store.active``): what the reconciler
    needs to pick its candidates without reading each job."""

    job_id: str
    state: JobState
    created_at: datetime
    enqueued_at: datetime | None = None
    lease_until: datetime | None = None
    started_at: datetime | None = None
    attempts: int = 0


class ManifestOutput(BaseModel):
    """One file listed in the manifest: a song or a stem (audio: duration, rate, channels), or the lyrics."""

    index: int = Field(ge=0)
    format: FileFormat
    key: str
    duration_s: float | None = Field(None, gt=0)
    sample_rate: int | None = Field(None, gt=0)
    channels: int | None = Field(None, gt=0)
    kind: OutputKind = OutputKind.SONG
    score: float | None = Field(None, description="A song's similarity to the requested style")
    lyrics_accuracy: float | None = Field(None, description="A song's lyric check: the share of its lyrics heard "
                                          "as written (None: instrumental, or not checked)")
    content_credentials: bool = Field(False, description="The file carries a C2PA manifest signed by the deployment")


class OutputManifest(BaseModel):
    """``outputs/{job_id}/result.json``: written last by the worker; its arrival completes the job."""

    job_id: str
    outputs: list[ManifestOutput] = Field(min_length=1)
    duration_s: float = Field(gt=0, description="Song length in seconds")
    metadata: dict[str, object] = Field(default_factory=dict, description="Model, seed, steps, cfg, timings")


class FailureRecord(BaseModel):
    """``failures/{job_id}.json``: a job that cannot complete, with a reason the user can act on."""

    job_id: str
    code: FailureCode
    reason: str = Field(min_length=1)
    at: datetime = Field(default_factory=utcnow)


class CancellationRecord(BaseModel):
    """``cancellations/{job_id}.json``: written after a cancel so the status function notifies the webhook."""

    job_id: str
    at: datetime = Field(default_factory=utcnow)


class JobRequestRecord(GenerateRequest):
    """``requests/{job_id}.json``: the accepted request as the worker reads it.

    ``lrc`` is always timed LRC: the caller's lyrics, or untimed / section-tagged lyrics after timing them (empty for
    an instrumental). A repaint of a finished job (``edit.job_id``) or an ``extend`` is stored as an edit of that
    job's WAV (``edit.reference_audio_key``), a remix of one (``remix.job_id``) as a remix of it
    (``remix.reference_audio_key``); the job is named in ``source_job``.
    """

    job_id: str
    owner: str
    seed: int  # resolved: drawn at submission when the caller gave none
    lrc: str
    submitted_at: datetime
    source_job: str | None = None
    account: str | None = Field(None, description="Who is charged for it (``JobRecord.account``): a lyric "
                                "regeneration (``min_lyrics_accuracy``) charges its units here")
    units_per_hour: int = Field(0, ge=0, description="The account's units_per_hour limit when the job was accepted "
                                "(0: unlimited): a regeneration that does not fit it is refused")


class WebhookEvent(BaseModel):
    """The JSON body POSTed (signed) to a job's ``webhook_url`` when it reaches a final state."""

    event: Literal["job.completed", "job.failed", "job.cancelled"]
    event_id: str = Field(description="The same for every delivery of this event: a receiver drops repeats")
    job_id: str
    status: str = Field(description="completed | failed | cancelled (the status endpoint's strings)")
    error: str | None
    error_code: FailureCode | None = Field(None, description="Why it failed (null unless failed)")
    completed_at: datetime | None
    outputs: list[OutputFile]
    status_url: str

    @classmethod
    def for_job(cls, job: JobRecord) -> WebhookEvent:
        """The event announcing ``job``'s final state."""
        status = job.status.wire
        event = f"job.{status}"
        return cls(event=event, event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{job.job_id}/{event}")),
                   job_id=job.job_id, status=status, error=job.error,
                   error_code=job.error_code, completed_at=job.completed_at, outputs=job.outputs,
                   status_url=f"/api/v1/status/{job.job_id}")
