"""Job items of the job table (``job#{job_id}``, a ``shared.records.JobRecord``): every write conditional.

The ``owner-created`` index (owner, created_at) lists a caller's jobs; each write keeps ``queue_state``, the key of
the active-job index (``shared.store.active``), in step with the job's state.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.aws import conditional_failed
from shared.records import JobRecord, utcnow
from shared.states import ALLOWED_FROM, JobState
from shared.store.active import ACTIVE, NOTIFY
from shared.store.codec import deserialize, job_pk, serialize, to_record, update_expression
from shared.store.fleet import count_reached
from shared.store.table import Table

OWNER_INDEX = "owner-created"
_FINAL = sorted(state for state in JobState if state.is_final)


class CursorError(ValueError):
    """A pagination cursor that this table did not issue for this caller."""


class JobItems(Table):
    """Reads and conditional writes of job items (``shared.ports.Jobs``)."""

    def create(self, record: JobRecord) -> bool:
        """Put a new QUEUED job; False if a job with that id exists already."""
        item = {**record.model_dump(), "pk": job_pk(record.job_id), "queue_state": JobState.QUEUED.value}
        try:
            self._db.put_item(TableName=self._table, Item=serialize(item),
                              ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if conditional_failed(error):
                return False
            raise
        count_reached(self._db, self._table, JobState.QUEUED)
        return True

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None."""
        response = self._db.get_item(TableName=self._table, Key=serialize({"pk": job_pk(job_id)}), ConsistentRead=True)
        return to_record(response["Item"]) if "Item" in response else None

    def transition(
        self, job_id: str, target: JobState, *, only_if_absent: str | None = None,
        lease_ended_before: datetime | None = None, **fields: Any
    ) -> JobRecord | None:
        """Move a job to ``target`` and set ``fields``, only if ``shared.states`` allows it from its current state
        (and, with ``only_if_absent``, only while that attribute is unset; with ``lease_ended_before``, only while no
        worker holds a lease on it that ends at or after then, so a worker that claimed it meanwhile wins).

        A final ``target`` puts the job in the index's NOTIFY partition, until ``notified`` takes it out.

        Returns the updated job, or None when the job is missing or a condition forbids the move (a duplicate or
        late event), so callers can treat repeats as no-ops.
        """
        queue_state = target.value if target in ACTIVE else NOTIFY
        expression, names, values = update_expression(
            {"updated_at": utcnow(), **fields, "queue_state": queue_state, "status": target})
        allowed = sorted(ALLOWED_FROM[target])
        values |= {f":from{i}": state for i, state in enumerate(allowed)}
        names["#status"] = "status"
        condition = f"attribute_exists(pk) AND #status IN ({', '.join(f':from{i}' for i in range(len(allowed)))})"
        if only_if_absent is not None:
            condition += " AND attribute_not_exists(#absent)"
            names["#absent"] = only_if_absent
        if lease_ended_before is not None:
            condition += " AND (attribute_not_exists(#lease) OR #lease < :lease_end)"
            names["#lease"], values[":lease_end"] = "lease_until", lease_ended_before
        updated = self._update_if(job_id, expression, condition, names, values)
        if updated is None:
            return None
        if target not in ACTIVE:  # created jobs are counted by ``create``; claims and re-queues are not new jobs
            count_reached(self._db, self._table, target)
        return to_record(updated)

    def claim(
        self, job_id: str, now: datetime, lease_until: datetime, *, lease_owner: str | None = None, **fields: Any
    ) -> JobRecord | None:
        """Move a job to RUNNING for one worker until ``lease_until``: from QUEUED, or from RUNNING whose lease has
        ended (its worker died). None when the job is missing, final, or another worker's lease still holds, so a
        duplicate delivery never generates the same job twice at once.

        ``lease_owner`` (a token unique to this claim) replaces the previous holder's (None removes it): the worker's
        later lease writes name it (``set_fields(only_if_lease_owner=...)``), so a worker whose lease was taken over
        can no longer renew or end it."""
        expression, names, values = update_expression(
            {"updated_at": now, **fields, "lease_until": lease_until, "lease_owner": lease_owner,
             "queue_state": JobState.RUNNING, "status": JobState.RUNNING})
        names |= {"#status": "status", "#lease": "lease_until"}
        values |= {":queued": JobState.QUEUED, ":running": JobState.RUNNING, ":now": now}
        condition = ("attribute_exists(pk) AND (#status = :queued OR (#status = :running AND "
                     "(attribute_not_exists(#lease) OR #lease < :now)))")
        updated = self._update_if(job_id, expression, condition, names, values)
        return to_record(updated) if updated is not None else None

    def set_fields(
        self, job_id: str, *, only_if: JobState | None = None, only_if_absent: str | None = None,
        only_if_lease_owner: str | None = None, **fields: Any
    ) -> bool:
        """Set non-state attributes (progress, lease, enqueued_at, webhook result).

        ``only_if`` requires the job to be in that state; ``only_if_absent`` requires that attribute to be unset
        (a claim); ``only_if_lease_owner`` requires the lease to be that claim's (``lease_owner``, set by
        ``claim``). Returns False when a condition failed.
        """
        expression, names, values = update_expression(fields)
        condition = "attribute_exists(pk)"
        if only_if is not None:
            condition += " AND #status = :only"
            names["#status"], values[":only"] = "status", only_if
        if only_if_absent is not None:
            condition += " AND attribute_not_exists(#absent)"
            names["#absent"] = only_if_absent
        if only_if_lease_owner is not None:
            condition += " AND #lease_owner = :lease_owner"
            names["#lease_owner"], values[":lease_owner"] = "lease_owner", only_if_lease_owner
        return self._update_if(job_id, expression, condition, names, values) is not None

    def notified(self, job_id: str) -> bool:
        """Take a final job out of the index's NOTIFY partition: its webhook event is queued (or it has no webhook).
        False when the job is missing or not final."""
        names = {"#status": "status", "#queue": "queue_state"}
        values: dict[str, Any] = {f":final{i}": state for i, state in enumerate(_FINAL)}
        condition = f"attribute_exists(pk) AND #status IN ({', '.join(values)})"
        return self._update_if(job_id, "REMOVE #queue", condition, names, values) is not None

    def list_for_owner(self, owner: str, limit: int, cursor: str | None = None) -> tuple[list[JobRecord], str | None]:
        """A page of ``owner``'s jobs, newest first, and the cursor of the next page."""
        query: dict[str, Any] = {
            "TableName": self._table, "IndexName": OWNER_INDEX, "Limit": limit, "ScanIndexForward": False,
            "KeyConditionExpression": "#owner = :owner", "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": serialize({":owner": owner}),
        }
        if cursor:
            query["ExclusiveStartKey"] = _decode_cursor(cursor, owner)
        response = self._db.query(**query)
        last = response.get("LastEvaluatedKey")
        next_cursor = base64.urlsafe_b64encode(json.dumps(deserialize(last)).encode()).decode() if last else None
        return [to_record(item) for item in response["Items"]], next_cursor

    def _update_if(self, job_id: str, expression: str, condition: str, names: dict[str, str],
                   values: dict[str, Any]) -> dict[str, Any] | None:
        """One conditional update of a job item: its new attributes, or None when ``condition`` did not hold."""
        try:
            response = self._db.update_item(
                TableName=self._table, Key=serialize({"pk": job_pk(job_id)}), UpdateExpression=expression,
                ConditionExpression=condition, ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(values), ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if conditional_failed(error):
                return None
            raise
        attributes: dict[str, Any] = response["Attributes"]
        return attributes


def _decode_cursor(cursor: str, owner: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise CursorError("cursor is not one this API returned") from error
    if not isinstance(key, dict) or key.get("owner") != owner or set(key) != {"pk", "owner", "created_at"}:
        raise CursorError("cursor is not one this API returned for this API key")
    return serialize(key)
