"""What the worker tests share: a job as the API leaves it, and readers of what the worker left (the stand-in
pipeline is ``tests.support.pipeline``)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from shared import keys
from shared.contract import GenerateRequest
from shared.records import JobMessage, JobRecord, JobRequestRecord
from shared.states import JobState
from tests.support.fakes import FakeObjectStore
from tests.support.job_table import FakeJobTable
from tests.unit.conftest import BUCKET


def queue_job(table: FakeJobTable, s3: FakeObjectStore, lyrics: str = "[00:01.00]hello there",
              status: JobState = JobState.QUEUED, source_job: str | None = None, units_per_hour: int = 0,
              **fields: Any) -> dict[str, Any]:
    """A job as the API leaves it (item, stored request) and the SQS message a worker receives for it
    (``source_job``: the finished job whose song it edits or remixes, resolved at submit), charged to the account
    ``account`` with ``units_per_hour`` units an hour."""
    job_id, now = str(uuid.uuid4()), datetime.now(UTC)
    fields.setdefault("style_prompt", None if fields.get("reference_audio_key") else "pop")
    request = GenerateRequest(lyrics=lyrics, preset="preview", **fields)
    stored = JobRequestRecord(**{**request.model_dump(), "seed": 7}, job_id=job_id, owner="owner", lrc=lyrics,
                              submitted_at=now, source_job=source_job, account="account",
                              units_per_hour=units_per_hour)
    s3.put_object(Bucket=BUCKET, Key=keys.request_key(job_id), Body=stored.model_dump_json().encode(),
                  ContentType="application/json")
    table.jobs[job_id] = JobRecord(
        job_id=job_id, owner="owner", account="account", status=status, created_at=now, updated_at=now, enqueued_at=now,
        expires_at=JobRecord.ttl(now, 1), request_key=keys.request_key(job_id), request_sha256="0" * 64,
        audio_length=request.audio_length, batch_size=request.batch_size, output_format=request.output_format,
        seed=7)
    body = JobMessage(job_id=job_id, owner="owner", request_key=keys.request_key(job_id), submitted_at=now)
    return {"Body": body.model_dump_json(), "ReceiptHandle": f"receipt-{job_id}"}


def job_id_of(message: dict[str, Any]) -> str:
    return str(json.loads(message["Body"])["job_id"])


def outputs_of(s3: FakeObjectStore, message: dict[str, Any]) -> set[str]:
    prefix = keys.output_prefix(job_id_of(message))
    return {key[len(prefix):] for key in s3.objects if key.startswith(prefix)}
