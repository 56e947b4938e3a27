"""The fleet's items of the job table: counters of jobs reaching each state (``stats``, for /metrics) and the GPU
workers' heartbeat (``worker#heartbeat``)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.records import utcnow
from shared.states import JobState
from shared.store.codec import deserialize, parse_time, serialize
from shared.store.table import Table

STATS_PK, HEARTBEAT_PK = "stats", "worker#heartbeat"
_log = logging.getLogger(__name__)


def count_reached(dynamodb: Any, table_name: str, state: JobState) -> None:
    """Count a job reaching ``state`` (metrics only): best effort, so a throttled counter never undoes the write it
    follows (a created job without its message, a cancel without its marker)."""
    try:
        dynamodb.update_item(
            TableName=table_name, Key=serialize({"pk": STATS_PK}), UpdateExpression="ADD #s :one",
            ExpressionAttributeNames={"#s": state.value.lower()}, ExpressionAttributeValues=serialize({":one": 1}),
        )
    except (BotoCoreError, ClientError):
        _log.warning("the %s counter was not incremented", state.value.lower(), exc_info=True)


class FleetStats(Table):
    """Job counters and the workers' heartbeat (``shared.ports.Fleet``)."""

    def counters(self) -> dict[str, int]:
        """Jobs that reached each state since the table was created."""
        item = self._db.get_item(TableName=self._table, Key=serialize({"pk": STATS_PK})).get("Item")
        counts = deserialize(item) if item else {}
        return {state.value.lower(): int(counts.get(state.value.lower(), 0)) for state in JobState}

    def heartbeat(self, device: str, now: datetime | None = None) -> None:
        """Record that a worker with ``device`` is alive (called by workers)."""
        item = {"pk": HEARTBEAT_PK, "last_seen": now or utcnow(), "device": device}
        self._db.put_item(TableName=self._table, Item=serialize(item))

    def last_heartbeat(self) -> tuple[datetime, str] | None:
        """When a worker last reported itself, and its device; None if never."""
        item = self._db.get_item(TableName=self._table, Key=serialize({"pk": HEARTBEAT_PK})).get("Item")
        if not item:
            return None
        data = deserialize(item)
        return parse_time(data["last_seen"]), data["device"]
