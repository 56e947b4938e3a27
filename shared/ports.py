"""What the functions need from the job table, the bucket and the queue, as small structural types.

The job table is four ports, one per part of ``shared.store`` (``Jobs``, ``ActiveJobs``, ``Usage``, ``Fleet``), and
``JobTable``, all four at once. The product passes ``shared.store.JobStore`` (or one part) and boto3 clients
(``shared.aws.client``); unit tests pass the in-memory fakes of ``tests/support``. The object store and queue
protocols name only the boto3 client methods in use, with boto3's own keyword arguments, so a boto3 client satisfies
them as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from shared.contract import Meter
from shared.records import ActiveJob, JobRecord
from shared.states import JobState
from shared.store.usage import Charge

Clock = Callable[[], datetime]
"""Timezone-aware now (``shared.records.utcnow``); tests pass a fixed one."""


class Jobs(Protocol):
    """Job items (``shared.store.JobItems``): reads, conditional writes and a caller's list."""

    def create(self, record: JobRecord) -> bool: ...

    def get(self, job_id: str) -> JobRecord | None: ...

    def transition(
        self, job_id: str, target: JobState, *, only_if_absent: str | None = None,
        lease_ended_before: datetime | None = None, **fields: Any
    ) -> JobRecord | None: ...

    def claim(
        self, job_id: str, now: datetime, lease_until: datetime, *, lease_owner: str | None = None, **fields: Any
    ) -> JobRecord | None: ...

    def set_fields(
        self, job_id: str, *, only_if: JobState | None = None, only_if_absent: str | None = None,
        only_if_lease_owner: str | None = None, **fields: Any
    ) -> bool: ...

    def notified(self, job_id: str) -> bool: ...

    def list_for_owner(
        self, owner: str, limit: int, cursor: str | None = None
    ) -> tuple[list[JobRecord], str | None]: ...


class ActiveJobs(Protocol):
    """The active-job index (``shared.store.ActiveJobIndex``): the queue, and the reconciler's candidates."""

    def queue_position(self, record: JobRecord) -> int: ...

    def queued_count(self) -> int: ...

    def unqueued_before(self, cutoff: datetime) -> list[str]: ...

    def queued_since_before(self, cutoff: datetime) -> list[ActiveJob]: ...

    def running_stale(self, lease_ended_before: datetime, started_before: datetime) -> list[ActiveJob]: ...

    def notify_pending(self, completed_before: datetime) -> list[str]: ...


class Usage(Protocol):
    """Quota counts per account, meter and window (``shared.store.UsageMeters``)."""

    def charge(self, account: str, charges: Sequence[Charge], now: datetime) -> tuple[Meter, int] | None: ...

    def add_usage(self, account: str, meter: Meter, amount: int, now: datetime) -> None: ...

    def usage(self, account: str, meters: Sequence[Meter], now: datetime) -> dict[Meter, int]: ...


class Fleet(Protocol):
    """Job counters and the workers' heartbeat (``shared.store.FleetStats``)."""

    def counters(self) -> dict[str, int]: ...

    def last_heartbeat(self) -> tuple[datetime, str] | None: ...

    def heartbeat(self, device: str, now: datetime | None = None) -> None: ...


class JobTable(Jobs, ActiveJobs, Usage, Fleet, Protocol):
    """The whole job table (``shared.store.JobStore``): the four ports at once."""


class ObjectStore(Protocol):
    """The S3 client methods the functions call."""

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Any: ...

    def get_object(self, *, Bucket: str, Key: str) -> Any: ...

    def head_object(self, *, Bucket: str, Key: str) -> Any: ...

    def delete_object(self, *, Bucket: str, Key: str) -> Any: ...

    def generate_presigned_url(self, ClientMethod: str, Params: dict[str, Any], ExpiresIn: int) -> str: ...


class MessageQueue(Protocol):
    """The SQS client methods the API calls."""

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> Any: ...

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> Any: ...
