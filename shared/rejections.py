"""Why an upload was refused: ``rejections/{upload_key}.json``, written by the upload check, read by the API.

The upload check (``functions.status.upload_check``) deletes a refused upload and leaves this record, so a submit that
names the upload is answered 422 with the plain reason instead of "no uploaded file".
"""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from shared import keys
from shared.ports import ObjectStore
from shared.records import utcnow
from shared.storage import is_missing, put_json


class UploadRejection(BaseModel):
    """The record of one refused upload."""

    key: str = Field(description="The upload's key (deleted)")
    reason: str = Field(description="A plain sentence for the user, e.g. 'the clip has 3 channels; ...'")
    rejected_at: datetime


def put_rejection(s3: ObjectStore, bucket: str, upload_key: str, reason: str) -> None:
    """Record that ``upload_key`` was refused for ``reason``."""
    put_json(s3, bucket, keys.rejection_key(upload_key),
             UploadRejection(key=upload_key, reason=reason, rejected_at=utcnow()))


def rejection_reason(s3: ObjectStore, bucket: str, upload_key: str) -> str | None:
    """Why ``upload_key`` was refused, or None when it was not (other S3 errors are raised)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=keys.rejection_key(upload_key))["Body"].read()
    except ClientError as error:
        if is_missing(error):
            return None
        raise
    return UploadRejection.model_validate_json(body).reason
