"""The active-job index of the job table: queue positions and the reconciler's candidates.

``active-created`` (hash ``queue_state``, range ``created_at``; projecting ``enqueued_at``, ``lease_until``,
``started_at``, ``attempts``, ``completed_at``) is sparse: a job item has ``queue_state`` = "QUEUED" while queued,
"RUNNING" while running, "NOTIFY" once final until its webhook event is queued (or it has none), then none
(``shared.store.jobs`` writes it with each state).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from shared.records import ActiveJob, JobRecord
from shared.states import JobState
from shared.store.codec import deserialize, job_id_of, serialize
from shared.store.table import Table

ACTIVE_INDEX = "active-created"
ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING})  # the states ``queue_state`` mirrors
NOTIFY = "NOTIFY"  # ``queue_state`` of a final job whose webhook event may not be queued yet


class ActiveJobIndex(Table):
    """Queries of the active-job index (``shared.ports.ActiveJobs``)."""

    def queue_position(self, record: JobRecord) -> int:
        """How many queued jobs were created before ``record`` (0 = next to run)."""
        return self._count_queued("AND created_at < :created", {":created": record.created_at})

    def queued_count(self) -> int:
        """Jobs waiting for a worker."""
        return self._count_queued("", {})

    def unqueued_before(self, cutoff: datetime) -> list[str]:
        """Ids of the queued jobs created before ``cutoff`` whose message was never sent (no ``enqueued_at``), oldest
        first: the reconciler's candidates. The index projects ``enqueued_at``, so jobs waiting normally are
        filtered out in the index, not read one by one."""
        return [job.job_id for job in self._active(JobState.QUEUED, "AND created_at < :created", {":created": cutoff},
                                                   "attribute_not_exists(enqueued_at)")]

    def queued_since_before(self, cutoff: datetime) -> list[ActiveJob]:
        """The queued jobs whose message was sent before ``cutoff`` (``enqueued_at``), oldest first: the reconciler
        fails them once no worker took them in time."""
        return self._active(JobState.QUEUED, "AND created_at < :cutoff", {":cutoff": cutoff},
                            "enqueued_at < :cutoff")

    def running_stale(self, lease_ended_before: datetime, started_before: datetime) -> list[ActiveJob]:
        """The running jobs whose lease ended before ``lease_ended_before`` or that started before ``started_before``,
        oldest first: the reconciler's candidates among running jobs, read from the index projection."""
        return self._active(JobState.RUNNING, "", {":lease_end": lease_ended_before, ":started": started_before},
                            "lease_until < :lease_end OR started_at < :started")

    def notify_pending(self, completed_before: datetime) -> list[str]:
        """Ids of the final jobs still in the NOTIFY partition that ended before ``completed_before`` (or have no
        ``completed_at``), oldest first: the reconciler queues their webhook events."""
        pages = self._query_active("", {":done": completed_before}, state=NOTIFY,
                                   filter_expression="attribute_not_exists(completed_at) OR completed_at < :done")
        return [job_id_of(deserialize(item)) for page in pages for item in page["Items"]]

    def _active(self, state: JobState, extra: str, values: dict[str, Any], filter_expression: str) -> list[ActiveJob]:
        """The jobs in ``state`` (``queue_state``) that ``extra`` and ``filter_expression`` select, oldest first."""
        jobs = []
        for page in self._query_active(extra, values, state=state, filter_expression=filter_expression):
            for item in page["Items"]:
                data = deserialize(item)
                jobs.append(ActiveJob.model_validate({**data, "job_id": job_id_of(data), "state": data["queue_state"]}))
        return jobs

    def _count_queued(self, extra: str, values: dict[str, Any]) -> int:
        return sum(int(page["Count"]) for page in self._query_active(extra, values, select="COUNT"))

    def _query_active(self, extra: str, values: dict[str, Any], *, state: str = JobState.QUEUED,
                      select: str = "ALL_PROJECTED_ATTRIBUTES",
                      filter_expression: str | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a query of the sparse active-job index for ``state`` (a ``queue_state``), ``created_at``
        narrowed by ``extra``."""
        start = None
        while True:
            query: dict[str, Any] = {
                "TableName": self._table, "IndexName": ACTIVE_INDEX, "Select": select,
                "KeyConditionExpression": f"queue_state = :state {extra}",
                "ExpressionAttributeValues": serialize({":state": state, **values}),
            }
            if filter_expression:
                query["FilterExpression"] = filter_expression
            if start:
                query["ExclusiveStartKey"] = start
            response: dict[str, Any] = self._db.query(**query)
            yield response
            start = response.get("LastEvaluatedKey")
            if not start:
                return
