"""The bucket's shared rules: writing the service's JSON records (one place for the key, body and content type), and
telling a missing object from any other S3 error."""

from __future__ import annotations

from botocore.exceptions import ClientError
from pydantic import BaseModel

from shared import keys
from shared.ports import ObjectStore
from shared.records import FailureCode, FailureRecord

#: S3's answers for an object that does not exist (HeadObject answers a bare 404)
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def is_missing(error: ClientError) -> bool:
    """Whether ``error`` says the object does not exist; anything else (throttling, a fault) is worth raising."""
    return error.response.get("Error", {}).get("Code") in _MISSING


def exists(s3: ObjectStore, bucket: str, key: str) -> bool:
    """Whether ``key`` exists (HeadObject); errors other than a missing object are raised."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_missing(error):
            return False
        raise
    return True


def put_json(s3: ObjectStore, bucket: str, key: str, record: BaseModel) -> None:
    """Store ``record`` as ``application/json`` at ``key``."""
    s3.put_object(Bucket=bucket, Key=key, Body=record.model_dump_json().encode(), ContentType="application/json")


def put_failure(s3: ObjectStore, bucket: str, job_id: str, code: FailureCode, reason: str) -> None:
    """Write ``failures/{job_id}.json``; its arrival makes the status function fail the job."""
    put_json(s3, bucket, keys.failure_key(job_id), FailureRecord(job_id=job_id, code=code, reason=reason))
