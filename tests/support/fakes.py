"""In-memory stand-ins for the bucket and the queue (``shared.ports``), the one settable clock, and builders of
botocore errors and callers. The job table's stand-in is ``tests.support.job_table.FakeJobTable``.

They keep the behaviour the product relies on (S3's 404s, SQS send errors) and record what was called.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError

from shared.accounts import Caller, Limits
from shared.settings import Settings


def client_error(code: str, operation: str) -> ClientError:
    """A botocore error as the real clients raise it."""
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


def key_caller(owner: str, settings: Settings, *, account: str | None = None,
               key_id: str | None = "key_0123456789abcdef",
               kind: Literal["key", "end_user", "user", "anonymous"] = "key", **limits: int) -> Caller:
    """A caller as authentication makes one: by default an API key's, whose account is its owner; its limits are
    ``settings``' defaults overridden by ``limits`` (``shared.accounts.Limits`` fields)."""
    return Caller(owner=owner, account=account or owner, limits=Limits(**limits).resolved(settings), kind=kind,
                  key_id=key_id)


class FakeClock:
    """Now (``shared.ports.Clock``), standing still until the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeObjectStore:
    """The S3 client methods of ``shared.ports.ObjectStore`` over one bucket in a dict."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.presigned: list[tuple[str, dict[str, Any], int]] = []

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict[str, Any]:
        self._check(Bucket, "PutObject")
        self.objects[Key] = (bytes(Body), ContentType)
        return {}

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._check(Bucket, "GetObject")
        if Key not in self.objects:
            raise client_error("NoSuchKey", "GetObject")
        body, content_type = self.objects[Key]
        return {"Body": io.BytesIO(body), "ContentType": content_type, "ContentLength": len(body)}

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._check(Bucket, "HeadObject")
        if Key not in self.objects:
            raise client_error("404", "HeadObject")
        body, content_type = self.objects[Key]
        return {"ContentType": content_type, "ContentLength": len(body)}

    def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self._check(Bucket, "DeleteObject")
        self.objects.pop(Key, None)  # S3 answers 204 for a missing key too
        return {}

    def generate_presigned_url(self, ClientMethod: str, Params: dict[str, Any], ExpiresIn: int) -> str:
        self._check(Params["Bucket"], ClientMethod)
        self.presigned.append((ClientMethod, Params, ExpiresIn))
        return f"https://{Params['Bucket']}.s3.example/{Params['Key']}?op={ClientMethod}&expires={ExpiresIn}"

    def body(self, key: str) -> bytes:
        """The bytes stored at ``key`` (KeyError when absent)."""
        return self.objects[key][0]

    def _check(self, bucket: str, operation: str) -> None:
        if bucket != self.bucket:
            raise client_error("NoSuchBucket", operation)


class FakeQueue:
    """The SQS client methods of ``shared.ports.MessageQueue`` (and the worker's delete and visibility calls) for one
    queue; ``failing`` makes sends fail. ``deleted`` and ``visibility`` record the worker's calls by receipt handle."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.bodies: list[str] = []
        self.in_flight = 0
        self.failing: Exception | None = None
        self.deleted: list[str] = []
        self.visibility: list[tuple[str, int]] = []

    def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:
        assert QueueUrl == self.url
        self.deleted.append(ReceiptHandle)
        return {}

    def change_message_visibility(self, *, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int
                                  ) -> dict[str, Any]:
        assert QueueUrl == self.url
        self.visibility.append((ReceiptHandle, VisibilityTimeout))
        return {}

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> dict[str, Any]:
        if QueueUrl != self.url:
            raise client_error("AWS.SimpleQueueService.NonExistentQueue", "SendMessage")
        if self.failing is not None:
            raise self.failing
        self.bodies.append(MessageBody)
        return {"MessageId": str(len(self.bodies))}

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        if QueueUrl != self.url:
            raise client_error("AWS.SimpleQueueService.NonExistentQueue", "GetQueueAttributes")
        return {"Attributes": {"ApproximateNumberOfMessages": str(len(self.bodies)),
                               "ApproximateNumberOfMessagesNotVisible": str(self.in_flight)}}
