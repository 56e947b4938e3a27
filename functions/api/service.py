"""What the API does with a request: submit, view, cancel, download and upload, against S3, SQS and DynamoDB.

Submission order: request to S3, then the job item (conditional put), then the SQS message, then ``enqueued_at``.
A message therefore never exists without its job. A job whose message could not be sent is failed at once; one left
behind by a crash between the put and the send is re-sent when its Idempotency-Key is replayed, and is failed when
read after ``orphan_after_s``.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from functions.api.errors import (
    BadRequestError,
    ConflictError,
    InputError,
    NotFoundError,
    RateLimitError,
    UnavailableError,
)
from shared import keys
from shared.contract import (
    MAX_SEED,
    GenerateRequest,
    JobStatusResponse,
    OutputFormat,
    OutputPublic,
    ProgressPublic,
    UploadRequest,
    UploadResponse,
)
from shared.jobs import JobStore
from shared.records import (
    CancellationRecord,
    FailureCode,
    JobMessage,
    JobRecord,
    JobRequestRecord,
    utcnow,
)
from shared.settings import Settings
from shared.states import JobState
from shared.storage import put_failure, put_json

logger = Logger(service="api")
_IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0f5a0e-54a4-4f5e-9b7e-3c2f1d7a9e10")


@dataclass
class Submission:
    """The outcome of a submit: the job, lyric warnings, and whether it replays an earlier submit."""

    record: JobRecord
    warnings: list[str]
    replayed: bool


@dataclass
class JobService:
    """The API's operations. Clients are injected (``shared.aws.client``)."""

    settings: Settings
    store: JobStore
    s3: Any
    sqs: Any

    # -- submit ----------------------------------------------------------------------------------------------------
    def submit(self, request: GenerateRequest, owner: str, idempotency_key: str | None) -> Submission:
        """Validate, store and enqueue one job."""
        lyrics = request.parsed_lyrics()
        self._check_references(request, owner)
        body = request.model_dump(mode="json")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if idempotency_key:
            job_id = str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{owner}\n{idempotency_key}"))
            existing = self.store.get(job_id)
            if existing is not None:
                return Submission(self._replay(existing, digest), list(lyrics.warnings), replayed=True)
        else:
            job_id = str(uuid.uuid4())
        if self.settings.rate_limit_per_hour:
            retry_after = self.store.take_rate_token(owner, self.settings.rate_limit_per_hour)
            if retry_after is not None:
                raise RateLimitError(
                    f"rate limit: {self.settings.rate_limit_per_hour} jobs per hour per API key; retry in "
                    f"{retry_after} s", headers={"Retry-After": str(retry_after)})
        now = utcnow()
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        stored = JobRequestRecord(**{**body, "seed": seed}, job_id=job_id, owner=owner, lrc=lyrics.to_lrc()
                                  if not lyrics.timed else request.lyrics, submitted_at=now)
        put_json(self.s3, self.settings.bucket_name, keys.request_key(job_id), stored)
        record = JobRecord(
            job_id=job_id, owner=owner, created_at=now, updated_at=now,
            expires_at=JobRecord.ttl(now, self.settings.job_ttl_days), request_key=keys.request_key(job_id),
            request_sha256=digest, idempotency_key=idempotency_key, audio_length=request.audio_length,
            batch_size=request.batch_size, output_format=request.output_format, seed=seed,
            webhook_url=str(request.webhook_url) if request.webhook_url else None,
        )
        if not self.store.create(record):  # a concurrent submit with the same Idempotency-Key won
            existing = self.store.get(job_id)
            assert existing is not None
            return Submission(self._replay(existing, digest), list(lyrics.warnings), replayed=True)
        self._enqueue(record, request)
        return Submission(record, list(lyrics.warnings), replayed=False)

    def _check_references(self, request: GenerateRequest, owner: str) -> None:
        if request.webhook_url is not None and request.webhook_url.scheme != "https" \
                and not self.settings.allow_insecure_webhooks:
            raise InputError(["webhook_url"], "webhook_url must use https")
        refs: list[tuple[list[str | int], str]] = []
        if request.reference_audio_key is not None:
            refs.append((["reference_audio_key"], request.reference_audio_key))
        if request.edit is not None:
            refs.append((["edit", "reference_audio_key"], request.edit.reference_audio_key))
        for loc, key in refs:
            if not key.startswith(keys.input_prefix(owner)):
                raise InputError(loc, "must be a key returned by POST /api/v1/uploads for this API key")
            try:
                self.s3.head_object(Bucket=self.settings.bucket_name, Key=key)
            except ClientError as error:
                if error.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
                    raise InputError(loc, f"no uploaded file at {key}; PUT the file to its upload_url first") from None
                raise

    def _replay(self, existing: JobRecord, digest: str) -> JobRecord:
        if existing.request_sha256 != digest:
            raise ConflictError("Idempotency-Key was already used with a different request body; use a new key")
        if existing.status is JobState.QUEUED and existing.enqueued_at is None:
            request = JobRequestRecord.model_validate_json(self._read(existing.request_key))
            self._enqueue(existing, request)
        return existing

    def _enqueue(self, record: JobRecord, request: GenerateRequest) -> None:
        message = JobMessage(job_id=record.job_id, owner=record.owner, request_key=record.request_key,
                             model=request.model_variant, submitted_at=record.created_at)
        try:
            self.sqs.send_message(QueueUrl=self.settings.queue_url, MessageBody=message.model_dump_json())
        except (BotoCoreError, ClientError) as error:
            logger.exception("enqueue failed", extra={"job_id": record.job_id})
            self.fail(record, "enqueue_failed", "the job could not be queued; please submit it again")
            raise UnavailableError("the job could not be queued; please retry") from error
        self.store.set_fields(record.job_id, enqueued_at=utcnow())

    def fail(self, record: JobRecord, code: FailureCode, reason: str) -> JobRecord | None:
        """Fail a job from the API side, and leave the failure record the status function notifies from."""
        updated = self.store.transition(record.job_id, JobState.FAILED, error=reason, completed_at=utcnow())
        if updated is not None:
            put_failure(self.s3, self.settings.bucket_name, record.job_id, code, reason)
        return updated

    # -- read ------------------------------------------------------------------------------------------------------
    def get_owned(self, job_id: str, owner: str) -> JobRecord:
        """The caller's job (404 for unknown ids and other callers' jobs alike)."""
        record = self.store.get(job_id) if keys.JOB_ID_PATTERN.match(job_id) else None
        if record is None or record.owner != owner:
            raise NotFoundError(f"job {job_id} not found")
        if record.status is JobState.QUEUED and record.enqueued_at is None \
                and utcnow() - record.created_at > timedelta(seconds=self.settings.orphan_after_s):
            record = self.fail(record, "enqueue_failed", "the job was never queued; please submit it again") \
                or self.store.get(job_id) or record
        return record

    def wait_minutes(self, jobs_ahead: int) -> int:
        """Estimated minutes until a job with ``jobs_ahead`` queued before it finishes."""
        return math.ceil((jobs_ahead + 1) * self.settings.estimated_job_minutes / self.settings.worker_capacity)

    def view(self, record: JobRecord) -> JobStatusResponse:
        """The wire view of a job."""
        position = self.store.queue_position(record) if record.status is JobState.QUEUED else None
        first_wav = next((o for o in record.outputs if o.format is OutputFormat.WAV), None)
        progress = None
        if record.status is JobState.RUNNING and record.progress_stage is not None:
            progress = ProgressPublic(stage=record.progress_stage, percent=record.progress_percent or 0.0)
        return JobStatusResponse(
            job_id=record.job_id, status=record.status.wire, created_at=record.created_at,
            started_at=record.started_at, completed_at=record.completed_at,
            output_file=first_wav.key if first_wav else None,
            s3_url=self.presign_get(first_wav.key, f"{record.job_id}.wav") if first_wav else None,
            error=record.error, queue_position=position,
            estimated_wait_minutes=self.wait_minutes(position) if position is not None else None,
            progress=progress, audio_length=record.audio_length, batch_size=record.batch_size, seed=record.seed,
            updated_at=record.updated_at,
            outputs=[OutputPublic(index=o.index, format=o.format, size_bytes=o.size_bytes,
                                  download_url=f"/api/v1/download/{record.job_id}?format={o.format}&index={o.index}")
                     for o in record.outputs],
        )

    # -- actions ---------------------------------------------------------------------------------------------------
    def cancel(self, job_id: str, owner: str) -> JobRecord:
        """Cancel a job that is not finished yet (409 otherwise)."""
        record = self.get_owned(job_id, owner)
        updated = self.store.transition(job_id, JobState.CANCELLED, completed_at=utcnow(), error=None)
        if updated is None:
            current = self.store.get(job_id) or record
            raise ConflictError(f"job {job_id} is already {current.status.wire} and cannot be cancelled")
        put_json(self.s3, self.settings.bucket_name, keys.cancellation_key(job_id), CancellationRecord(job_id=job_id))
        return updated

    def download_url(self, job_id: str, owner: str, fmt: OutputFormat, index: int) -> str:
        """A short-lived URL of one output of a completed job."""
        record = self.get_owned(job_id, owner)
        if record.status is not JobState.COMPLETED:
            raise BadRequestError(f"job {job_id} is {record.status.wire}; downloads are available once it is completed")
        match = next((o for o in record.outputs if o.format is fmt and o.index == index), None)
        if match is None:
            have = sorted({f"{o.format}[{o.index}]" for o in record.outputs})
            raise NotFoundError(f"no output with format={fmt} and index={index}; this job has {', '.join(have)}")
        return self.presign_get(match.key, f"{job_id}_{index}.{fmt}")

    def create_upload(self, request: UploadRequest, owner: str) -> UploadResponse:
        """A presigned PUT for one reference clip of exactly ``size_bytes`` bytes."""
        if request.size_bytes > self.settings.max_upload_bytes:
            raise InputError(["size_bytes"], f"size_bytes must be at most {self.settings.max_upload_bytes}")
        key = keys.input_key(owner, uuid.uuid4().hex, request.content_type.extension)
        url = self.s3.generate_presigned_url(
            "put_object", ExpiresIn=self.settings.presign_ttl_s,
            Params={"Bucket": self.settings.bucket_name, "Key": key, "ContentType": request.content_type.value,
                    "ContentLength": request.size_bytes},
        )
        return UploadResponse(key=key, upload_url=url, headers={"Content-Type": request.content_type.value},
                              expires_in=self.settings.presign_ttl_s)

    def presign_get(self, key: str, filename: str) -> str:
        """A short-lived GET URL that downloads ``key`` as ``filename``."""
        return str(self.s3.generate_presigned_url(
            "get_object", ExpiresIn=self.settings.presign_ttl_s,
            Params={"Bucket": self.settings.bucket_name, "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"'},
        ))

    def queue_attributes(self) -> dict[str, int]:
        """Approximate visible and in-flight message counts of the job queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.settings.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {"visible": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"])}

    def _read(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=self.settings.bucket_name, Key=key)["Body"].read())
