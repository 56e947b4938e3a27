"""Submitting a job: validate, idempotency, quotas (``functions.api.quotas``), store, enqueue.

Order: request to S3, then the job item (conditional put), then the SQS message, then ``enqueued_at``. A message
therefore never exists without its job. A job whose message could not be sent is failed at once (503); one left
behind by a crash between the put and the send is sent when its Idempotency-Key is replayed, and otherwise by the
reconciler (``functions/status/reconcile.py``) after ``orphan_after_s``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from functions.api.errors import ConflictError, FieldError, UnavailableError
from functions.api.quotas import Quotas
from functions.api.sources import resolve
from functions.failures import fail_job
from shared import keys
from shared.accounts import Caller, Meter
from shared.contract import GenerateRequest, draw_seed
from shared.ports import Clock, Jobs, MessageQueue, ObjectStore
from shared.records import JobMessage, JobRecord, JobRequestRecord, utcnow
from shared.rejections import rejection_reason
from shared.settings import Settings
from shared.states import JobState
from shared.storage import exists, put_json
from shared.webhooks import ResolutionError, Resolver, UnsafeTargetError, checked_addresses, resolve_host

logger = Logger(service="api")
_IDEMPOTENCY_NAMESPACE = uuid.UUID("5b0f5a0e-54a4-4f5e-9b7e-3c2f1d7a9e10")


@dataclass
class Submission:
    """The outcome of a submit: the job, lyric warnings, and whether it replays an earlier submit."""

    record: JobRecord
    warnings: list[str]
    replayed: bool


@dataclass(frozen=True)
class Submissions:
    """Accepts jobs, charged to the caller's account by ``quotas``. ``clock`` is the time of a submission
    (``created_at``)."""

    settings: Settings
    store: Jobs
    s3: ObjectStore
    sqs: MessageQueue
    quotas: Quotas
    clock: Clock = field(default=utcnow)
    resolve: Resolver = field(default=resolve_host)  # webhook hosts; tests pass a table

    def submit(self, request: GenerateRequest, caller: Caller, idempotency_key: str | None) -> Submission:
        """Validate, store and enqueue one job of ``caller.owner``, charged to ``caller.account`` (or replay the job
        an earlier submit of this owner with this key made: idempotency keys are per owner)."""
        owner = caller.owner
        lyrics = request.parsed_lyrics()
        self._check_references(request, caller)
        warnings = list(lyrics.warnings)
        body = request.model_dump(mode="json")
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        if idempotency_key:
            job_id = str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{owner}\n{idempotency_key}"))
            existing = self.store.get(job_id)
            if existing is not None:
                return Submission(self._replay(existing, digest), warnings, replayed=True)
        else:
            job_id = str(uuid.uuid4())
        resolved = resolve(request, self.store, self.s3, self.settings.bucket_name, owner)  # a finished job's song
        if resolved is not None:
            warnings = [] if resolved.retimed else warnings  # the source's times replace the tempo's
            warnings += resolved.warnings
        self.quotas.charge_submit(caller, request)
        now = self.clock()
        seed = request.seed if request.seed is not None else draw_seed()
        lrc = request.timed_lrc(lyrics)
        if resolved is not None:  # the worker edits or remixes the source song's WAV as it does an upload
            body |= resolved.fields
            lrc = resolved.lrc if resolved.lrc is not None else lrc
        stored = JobRequestRecord(**{**body, "seed": seed}, job_id=job_id, owner=owner, lrc=lrc, submitted_at=now,
                                  source_job=resolved.source.job_id if resolved else None, account=caller.account,
                                  units_per_hour=caller.limits.of(Meter.UNITS_PER_HOUR))
        # concurrent retries of one Idempotency-Key each write their own request: the job names the winner's
        request_key = keys.request_key(job_id, uuid.uuid4().hex if idempotency_key else None)
        put_json(self.s3, self.settings.bucket_name, request_key, stored)
        record = JobRecord(
            job_id=job_id, owner=owner, account=caller.account, key_id=caller.key_id, created_at=now, updated_at=now,
            expires_at=JobRecord.ttl(now, self.settings.job_ttl_days), request_key=request_key,
            request_sha256=digest, idempotency_key=idempotency_key, audio_length=request.audio_length,
            batch_size=request.variations, output_format=request.output_format, seed=seed,
            webhook_url=str(request.webhook_url) if request.webhook_url else None,
        )
        if not self.store.create(record):  # a concurrent submit with the same Idempotency-Key won
            existing = self.store.get(job_id)
            assert existing is not None
            return Submission(self._replay(existing, digest), warnings, replayed=True)
        self._enqueue(record)
        return Submission(record, warnings, replayed=False)

    def _check_references(self, request: GenerateRequest, caller: Caller) -> None:
        if request.webhook_url is not None and caller.kind == "user":
            raise FieldError(["webhook_url"], "webhooks need an API key (server-to-server); a signed-in user "
                             "polls status_url instead")
        if request.webhook_url is not None:  # checked again before every call (DNS can change in between)
            try:
                checked_addresses(str(request.webhook_url), allow_private=self.settings.allow_insecure_webhooks,
                                  resolve=self.resolve, timeout_s=self.settings.webhook_timeout_s)
            except UnsafeTargetError as error:  # not allowed, or a host that does not exist
                raise FieldError(["webhook_url"], str(error)) from None
            except ResolutionError as error:  # no answer now: accepted, the check before each call decides
                logger.warning("webhook host not resolved at submit; accepted", extra={"error": str(error)})
        refs: list[tuple[list[str | int], str]] = []
        if request.reference_audio_key is not None:
            refs.append((["reference_audio_key"], request.reference_audio_key))
        if request.edit is not None and request.edit.reference_audio_key is not None:
            refs.append((["edit", "reference_audio_key"], request.edit.reference_audio_key))
        if request.remix is not None and request.remix.reference_audio_key is not None:
            refs.append((["remix", "reference_audio_key"], request.remix.reference_audio_key))
        for loc, key in refs:
            if not key.startswith(keys.input_prefix(caller.owner)):
                raise FieldError(loc, "must be a key returned by POST /api/v1/uploads to this caller")
            refused = rejection_reason(self.s3, self.settings.bucket_name, key)
            if refused is not None:  # the upload check deleted it
                raise FieldError(loc, f"the uploaded file was refused: {refused}")
            if not exists(self.s3, self.settings.bucket_name, key):
                raise FieldError(loc, f"no uploaded file at {key}; PUT the file to its upload_url first")

    def _replay(self, existing: JobRecord, digest: str) -> JobRecord:
        if existing.request_sha256 != digest:
            raise ConflictError("Idempotency-Key was already used with a different request body; use a new key")
        if existing.status is JobState.QUEUED and existing.enqueued_at is None:
            self._enqueue(existing)  # left unqueued by a crash: send it now
        return existing

    def _enqueue(self, record: JobRecord) -> None:
        now = self.clock()
        message = JobMessage(job_id=record.job_id, owner=record.owner, request_key=record.request_key,
                             submitted_at=record.created_at, enqueued_at=now)
        try:
            self.sqs.send_message(QueueUrl=self.settings.queue_url, MessageBody=message.model_dump_json())
        except (BotoCoreError, ClientError) as error:
            logger.exception("enqueue failed", extra={"job_id": record.job_id})
            fail_job(self.store, self.s3, self.settings.bucket_name, record.job_id, "enqueue_failed",
                     "the job could not be queued; please submit it again")
            raise UnavailableError("the job could not be queued; please retry") from error
        self.store.set_fields(record.job_id, enqueued_at=now)
