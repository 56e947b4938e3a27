"""The upload check: S3 ObjectCreated on ``inputs/`` -> probe the clip; refuse what the service would not accept.

The clip's header is read with ``shared.audio_probe`` (no samples decoded) and checked against its limits. A refused
upload is deleted after ``rejections/{key}.json`` records the plain reason, so a submit naming it gets a 422 with that
reason. The whole object is read (its size is capped by the presigned upload): an Ogg stream's length is on its last
page, so a prefix would not do.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from functions.observability import lambda_entry
from shared import keys
from shared.audio_probe import ClipRefused, check_clip, probe
from shared.aws import client
from shared.ports import ObjectStore
from shared.rejections import put_rejection
from shared.settings import Settings, get_settings
from shared.storage import is_missing

logger = Logger(service="upload-check")


@dataclass(frozen=True)
class UploadChecker:
    """Checks uploaded clips in the settings' bucket."""

    settings: Settings
    s3: ObjectStore

    def check(self, key: str) -> str | None:
        """Probe the upload at ``key``; returns the reason when it was refused (and deleted), else None."""
        if not key.startswith(keys.INPUTS):
            logger.debug("not an upload", extra={"key": key})
            return None
        bucket = self.settings.bucket_name
        try:
            data = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if is_missing(error):
                return None  # already gone (deleted, or a duplicate event after a refusal)
            raise  # throttling and the like: the event is delivered again
        try:
            info = probe(bytes(data))
            check_clip(info)
        except ClipRefused as refused:
            put_rejection(self.s3, bucket, key, refused.reason)  # first: a submit in between finds the reason
            self.s3.delete_object(Bucket=bucket, Key=key)
            logger.warning("upload refused", extra={"key": key, "reason": refused.reason, "bytes": len(data)})
            return refused.reason
        logger.info("upload accepted", extra={"key": key, "duration_s": info.duration_s, "format": info.format,
                                              "channels": info.channels, "sample_rate": info.sample_rate})
        return None


def checker(settings: Settings | None = None) -> UploadChecker:
    """A checker wired to the settings' bucket."""
    settings = settings or get_settings()
    return UploadChecker(settings, client("s3", settings))


@event_source(data_class=S3Event)
def _handle(event: S3Event, context: LambdaContext) -> dict[str, int]:
    """S3 notification (AWS's event shape, or moto's sparser one) -> each upload checked."""
    check = checker()
    uploads = [unquote_plus(record.s3.get_object.key) for record in event.records]
    refused = sum(check.check(key) is not None for key in uploads)
    return {"records": len(uploads), "refused": refused}


handler = lambda_entry(_handle, logger=logger, service="upload-check")
