"""Writing the service's JSON records to the bucket: one place for the key, body and content type."""

from __future__ import annotations

from pydantic import BaseModel

from shared import keys
from shared.ports import ObjectStore
from shared.records import FailureCode, FailureRecord


def put_json(s3: ObjectStore, bucket: str, key: str, record: BaseModel) -> None:
    """Store ``record`` as ``application/json`` at ``key``."""
    s3.put_object(Bucket=bucket, Key=key, Body=record.model_dump_json().encode(), ContentType="application/json")


def put_failure(s3: ObjectStore, bucket: str, job_id: str, code: FailureCode, reason: str) -> None:
    """Write ``failures/{job_id}.json``; its arrival makes the status function fail the job."""
    put_json(s3, bucket, keys.failure_key(job_id), FailureRecord(job_id=job_id, code=code, reason=reason))
