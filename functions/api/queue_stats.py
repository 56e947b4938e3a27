"""What the service-level endpoints report: jobs waiting, messages in flight, wait estimates, counters."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.ports import ActiveJobs, Fleet, Jobs, MessageQueue
from shared.settings import Settings
from shared.states import JobState

CURRENT_JOB_LOOKBACK = 25  # the caller's newest jobs searched for one being generated


def wait_minutes(settings: Settings, jobs_ahead: int) -> int:
    """Estimated minutes until a job with ``jobs_ahead`` queued before it finishes."""
    return math.ceil((jobs_ahead + 1) * settings.estimated_job_minutes / settings.worker_capacity)


class StatsStore(Jobs, ActiveJobs, Fleet, Protocol):
    """What the service-level reads use of the job table: the queue, a caller's jobs, the counters and heartbeat."""


@dataclass(frozen=True)
class QueueStats:
    """Reads of the queue and the table's counters; never writes."""

    settings: Settings
    store: StatsStore
    sqs: MessageQueue

    def queued(self) -> int:
        """Jobs waiting for a worker."""
        return self.store.queued_count()

    def messages(self) -> dict[str, int]:
        """Approximate visible and in-flight message counts of the job queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.settings.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {"visible": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"])}

    def wait_minutes(self, jobs_ahead: int) -> int:
        """Estimated minutes until a job with ``jobs_ahead`` queued before it finishes."""
        return wait_minutes(self.settings, jobs_ahead)

    def current_job(self, owner: str) -> str | None:
        """The id of ``owner``'s job being generated now, if any."""
        records, _ = self.store.list_for_owner(owner, CURRENT_JOB_LOOKBACK)
        return next((r.job_id for r in records if r.status is JobState.RUNNING), None)

    def reached(self) -> dict[str, int]:
        """Jobs that reached each state since the table was created."""
        return self.store.counters()

    def last_heartbeat(self) -> tuple[datetime, str] | None:
        """When a GPU worker last reported itself, and its device."""
        return self.store.last_heartbeat()
