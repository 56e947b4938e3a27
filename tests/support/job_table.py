"""The job table (``shared.ports.JobTable``) in a dict: the conditional writes of ``shared.store`` re-implemented,
so unit tests run without DynamoDB. ``tests/unit/shared/test_job_table_contract.py`` holds it to the same behaviour
as ``shared.store.JobStore`` on moto.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared.accounts import Meter
from shared.records import ActiveJob, JobRecord
from shared.states import ALLOWED_FROM, JobState
from shared.store import Charge, CursorError, checked_charges, seconds_left, window_start
from tests.support.fakes import client_error

WRITES = frozenset({"create", "transition", "claim", "set_fields", "notified", "charge", "add_usage"})


class FakeJobTable:
    """``shared.ports.JobTable`` in a dict. ``calls`` lists every method called, in order."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobRecord] = {}
        self.calls: list[str] = []
        self.usage_counts: Counter[tuple[str, Meter, int]] = Counter()  # (account, meter, window start) -> count
        self.reached: Counter[str] = Counter()
        self.last_seen: tuple[datetime, str] | None = None
        self.notifying: set[str] = set()  # the index's NOTIFY partition: final jobs not yet ``notified``

    def writes(self) -> list[str]:
        """The write calls made so far."""
        return [c for c in self.calls if c in WRITES]

    def create(self, record: JobRecord) -> bool:
        self.calls.append("create")
        if record.job_id in self.jobs:
            return False
        self.jobs[record.job_id] = record
        self.reached[JobState.QUEUED.value.lower()] += 1
        return True

    def get(self, job_id: str) -> JobRecord | None:
        self.calls.append("get")
        return self.jobs.get(job_id)

    def transition(self, job_id: str, target: JobState, *, only_if_absent: str | None = None,
                   lease_ended_before: datetime | None = None, **fields: Any) -> JobRecord | None:
        self.calls.append("transition")
        job = self.jobs.get(job_id)
        if job is None or job.status not in ALLOWED_FROM[target]:
            return None
        if only_if_absent is not None and getattr(job, only_if_absent) is not None:
            return None
        if lease_ended_before is not None and job.lease_until is not None and job.lease_until >= lease_ended_before:
            return None
        self.jobs[job_id] = self._updated(job, status=target, **fields)
        if target not in (JobState.QUEUED, JobState.RUNNING):
            self.reached[target.value.lower()] += 1
            self.notifying.add(job_id)
        return self.jobs[job_id]

    def claim(self, job_id: str, now: datetime, lease_until: datetime, *, lease_owner: str | None = None,
              **fields: Any) -> JobRecord | None:
        self.calls.append("claim")
        job = self.jobs.get(job_id)
        free = job is not None and (job.status is JobState.QUEUED or (
            job.status is JobState.RUNNING and (job.lease_until is None or job.lease_until < now)))
        if job is None or not free:
            return None
        self.jobs[job_id] = self._updated(job, **{"updated_at": now, **fields, "status": JobState.RUNNING,
                                                  "lease_until": lease_until, "lease_owner": lease_owner})
        return self.jobs[job_id]

    def set_fields(self, job_id: str, *, only_if: JobState | None = None, only_if_absent: str | None = None,
                   only_if_lease_owner: str | None = None, **fields: Any) -> bool:
        self.calls.append("set_fields")
        nothing_compared = only_if is None and only_if_lease_owner is None
        if not fields or (nothing_compared and all(value is None for value in fields.values())):
            raise client_error("ValidationException", "UpdateItem")  # as DynamoDB: nothing to set, or no value at all
        job = self.jobs.get(job_id)
        if job is None or (only_if is not None and job.status is not only_if):
            return False
        if only_if_absent is not None and getattr(job, only_if_absent) is not None:
            return False
        if only_if_lease_owner is not None and job.lease_owner != only_if_lease_owner:
            return False
        self.jobs[job_id] = job.model_validate({**job.model_dump(), **fields})
        return True

    def list_for_owner(self, owner: str, limit: int, cursor: str | None = None
                       ) -> tuple[list[JobRecord], str | None]:
        self.calls.append("list_for_owner")
        mine = sorted((j for j in self.jobs.values() if j.owner == owner), key=lambda j: j.created_at, reverse=True)
        start = 0
        if cursor:
            cursor_owner, _, offset = cursor.partition(":")
            if cursor_owner != owner or not offset.isdigit():
                raise CursorError("cursor is not one this API returned for this API key")
            start = int(offset)
        page = mine[start:start + limit]
        more = start + limit < len(mine)
        return page, f"{owner}:{start + limit}" if more else None

    def queue_position(self, record: JobRecord) -> int:
        self.calls.append("queue_position")
        return sum(1 for j in self._queued() if j.created_at < record.created_at)

    def queued_count(self) -> int:
        self.calls.append("queued_count")
        return len(self._queued())

    def unqueued_before(self, cutoff: datetime) -> list[str]:
        self.calls.append("unqueued_before")
        return [j.job_id for j in sorted(self._queued(), key=lambda j: j.created_at)
                if j.created_at < cutoff and j.enqueued_at is None]

    def queued_since_before(self, cutoff: datetime) -> list[ActiveJob]:
        self.calls.append("queued_since_before")
        return [self._active(j) for j in sorted(self._queued(), key=lambda j: j.created_at)
                if j.enqueued_at is not None and j.enqueued_at < cutoff]

    def running_stale(self, lease_ended_before: datetime, started_before: datetime) -> list[ActiveJob]:
        self.calls.append("running_stale")
        running = sorted((j for j in self.jobs.values() if j.status is JobState.RUNNING), key=lambda j: j.created_at)
        return [self._active(j) for j in running if (j.lease_until is not None and j.lease_until < lease_ended_before)
                or (j.started_at is not None and j.started_at < started_before)]

    def notified(self, job_id: str) -> bool:
        self.calls.append("notified")
        job = self.jobs.get(job_id)
        if job is None or not job.status.is_final:
            return False
        self.notifying.discard(job_id)
        return True

    def notify_pending(self, completed_before: datetime) -> list[str]:
        self.calls.append("notify_pending")
        pending = sorted((self.jobs[i] for i in self.notifying if i in self.jobs), key=lambda j: j.created_at)
        return [j.job_id for j in pending if j.completed_at is None or j.completed_at < completed_before]

    def charge(self, account: str, charges: Sequence[Charge], now: datetime) -> tuple[Meter, int] | None:
        self.calls.append("charge")
        for meter, amount, limit in checked_charges(charges):  # all or nothing: the first that does not fit refuses all
            if limit and self.usage_counts[account, meter, window_start(meter, now)] + amount > limit:
                return meter, seconds_left(meter, now)
        for meter, amount, _ in charges:
            self.usage_counts[account, meter, window_start(meter, now)] += amount
        return None

    def add_usage(self, account: str, meter: Meter, amount: int, now: datetime) -> None:
        self.calls.append("add_usage")
        self.usage_counts[account, meter, window_start(meter, now)] += amount

    def usage(self, account: str, meters: Sequence[Meter], now: datetime) -> dict[Meter, int]:
        self.calls.append("usage")
        return {meter: self.usage_counts[account, meter, window_start(meter, now)] for meter in meters}

    def counters(self) -> dict[str, int]:
        self.calls.append("counters")
        return {state.value.lower(): self.reached[state.value.lower()] for state in JobState}

    def last_heartbeat(self) -> tuple[datetime, str] | None:
        self.calls.append("last_heartbeat")
        return self.last_seen

    def heartbeat(self, device: str, now: datetime | None = None) -> None:
        self.calls.append("heartbeat")
        self.last_seen = (now or datetime.now(UTC), device)

    @staticmethod
    def _active(job: JobRecord) -> ActiveJob:
        """What the active-job index projects of ``job``."""
        return ActiveJob(job_id=job.job_id, state=job.status, created_at=job.created_at, enqueued_at=job.enqueued_at,
                         lease_until=job.lease_until, started_at=job.started_at, attempts=job.attempts)

    def _queued(self) -> list[JobRecord]:
        return [j for j in self.jobs.values() if j.status is JobState.QUEUED]

    @staticmethod
    def _updated(job: JobRecord, **fields: Any) -> JobRecord:
        return JobRecord.model_validate({**job.model_dump(), "updated_at": datetime.now(UTC), **fields})
