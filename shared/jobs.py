"""The job table: one DynamoDB table, every write conditional.

Item schema (single table, hash key ``pk``)::

    job#{job_id}            a JobRecord; ``queue_state`` = "QUEUED" while queued, "RUNNING" while running, "NOTIFY"
                            once final until its webhook event is queued (or it has none), then absent (sparse index)
    usage#{account}#{meter}#{window_start}
                            what one account used of one quota (``shared.accounts.Meter``) in one window (``count``),
                            expiring one window after the window ends
    stats                   counters of jobs reaching each state, for /metrics
    worker#heartbeat        last time a GPU worker reported itself (``last_seen``, ``device``)

Indexes: ``owner-created`` (owner, created_at) lists a caller's jobs; ``active-created`` (queue_state, created_at;
projecting ``enqueued_at``, ``lease_until``, ``started_at``, ``attempts``, ``completed_at``) gives queue positions and
the reconciler's candidates. ``expires_at`` is the TTL attribute.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from shared.aws import conditional_failed
from shared.contract import Meter
from shared.records import ActiveJob, JobRecord, utcnow
from shared.states import ALLOWED_FROM, JobState

OWNER_INDEX = "owner-created"
ACTIVE_INDEX = "active-created"
_ACTIVE = frozenset({JobState.QUEUED, JobState.RUNNING})  # the states ``queue_state`` mirrors
NOTIFY = "NOTIFY"  # ``queue_state`` of a final job whose webhook event may not be queued yet
_FINAL = sorted(state for state in JobState if state.is_final)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width, so strings sort as times
_serializer, _deserializer = TypeSerializer(), TypeDeserializer()
_log = logging.getLogger(__name__)
_TRANSACTION_ATTEMPTS = 3  # a charge that conflicts with another transaction on the same items is tried again


def _plain(value: Any) -> Any:
    """Python value -> what the DynamoDB serializer accepts (Decimal numbers, fixed-format times)."""
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(exclude_none=True))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.strftime(_TIME_FORMAT)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _native(value: Any) -> Any:
    """DynamoDB value -> plain Python (int or float for numbers)."""
    if isinstance(value, dict):
        return {k: _native(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_native(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """A plain dict -> a DynamoDB attribute map."""
    return {k: _serializer.serialize(v) for k, v in _plain(item).items()}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB attribute map -> a plain dict."""
    return {k: _native(_deserializer.deserialize(v)) for k, v in item.items()}


def job_pk(job_id: str) -> str:
    """Hash key of a job item."""
    return f"job#{job_id}"


Charge = tuple[Meter, int, int]
"""One quota charge: the meter, the amount to add, and the limit the count may reach (0 = unlimited)."""


def window_start(meter: Meter, now: datetime) -> int:
    """Epoch seconds at which ``meter``'s window containing ``now`` started (windows are fixed, UTC)."""
    return int(now.timestamp()) // meter.window_s * meter.window_s


def seconds_left(meter: Meter, now: datetime) -> int:
    """Whole seconds until ``meter``'s current window ends (at least 1: a ``Retry-After``)."""
    return max(1, window_start(meter, now) + meter.window_s - int(now.timestamp()))


def usage_pk(account: str, meter: Meter, start: int) -> str:
    """Hash key of ``account``'s count of ``meter`` in the window that started at ``start``."""
    return f"usage#{account}#{meter.value}#{start}"


def _usage_expiry(meter: Meter, start: int) -> int:
    """A usage item is deleted one window after its window ended (``expires_at``, the TTL attribute)."""
    return start + 2 * meter.window_s


def checked_charges(charges: Sequence[Charge]) -> list[Charge]:
    """``charges`` as a list; a ValueError for a charge that could never be accepted or a meter named twice (one
    transaction cannot write one item twice)."""
    for meter, amount, limit in charges:
        if amount < 0 or limit < 0 or (limit and amount > limit):
            raise ValueError(f"a charge of {amount} can never fit a {meter.value} limit of {limit}")
    if len({meter for meter, _, _ in charges}) != len(charges):
        raise ValueError("each meter may be charged once per transaction")
    return list(charges)


class CursorError(ValueError):
    """A pagination cursor that this table did not issue for this caller."""


class JobStore:
    """Reads and conditional writes of job items.

    Parameters
    ----------
    dynamodb
        A boto3 DynamoDB client (from ``shared.aws.client``).
    table_name
        The job table.
    """

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    # -- jobs ------------------------------------------------------------------------------------------------------
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
        self._count(JobState.QUEUED)
        return True

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None."""
        response = self._db.get_item(TableName=self._table, Key=serialize({"pk": job_pk(job_id)}), ConsistentRead=True)
        return _record(response["Item"]) if "Item" in response else None

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
        queue_state = target.value if target in _ACTIVE else NOTIFY
        expression, names, values = _update_expression(
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
        if target not in _ACTIVE:  # created jobs are counted by ``create``; claims and re-queues are not new jobs
            self._count(target)
        return _record(updated)

    def claim(
        self, job_id: str, now: datetime, lease_until: datetime, *, lease_owner: str | None = None, **fields: Any
    ) -> JobRecord | None:
        """Move a job to RUNNING for one worker until ``lease_until``: from QUEUED, or from RUNNING whose lease has
        ended (its worker died). None when the job is missing, final, or another worker's lease still holds, so a
        duplicate delivery never generates the same job twice at once.

        ``lease_owner`` (a token unique to this claim) replaces the previous holder's (None removes it): the worker's
        later lease writes name it (``set_fields(only_if_lease_owner=...)``), so a worker whose lease was taken over
        can no longer renew or end it."""
        expression, names, values = _update_expression(
            {"updated_at": now, **fields, "lease_until": lease_until, "lease_owner": lease_owner,
             "queue_state": JobState.RUNNING, "status": JobState.RUNNING})
        names |= {"#status": "status", "#lease": "lease_until"}
        values |= {":queued": JobState.QUEUED, ":running": JobState.RUNNING, ":now": now}
        condition = ("attribute_exists(pk) AND (#status = :queued OR (#status = :running AND "
                     "(attribute_not_exists(#lease) OR #lease < :now)))")
        updated = self._update_if(job_id, expression, condition, names, values)
        return _record(updated) if updated is not None else None

    def set_fields(
        self, job_id: str, *, only_if: JobState | None = None, only_if_absent: str | None = None,
        only_if_lease_owner: str | None = None, **fields: Any
    ) -> bool:
        """Set non-state attributes (progress, lease, enqueued_at, webhook result).

        ``only_if`` requires the job to be in that state; ``only_if_absent`` requires that attribute to be unset
        (a claim); ``only_if_lease_owner`` requires the lease to be that claim's (``lease_owner``, set by
        ``claim``). Returns False when a condition failed.
        """
        expression, names, values = _update_expression(fields)
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
        return [_record(item) for item in response["Items"]], next_cursor

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
        return [deserialize(item)["pk"].removeprefix(job_pk("")) for page in pages for item in page["Items"]]

    def _active(self, state: JobState, extra: str, values: dict[str, Any], filter_expression: str) -> list[ActiveJob]:
        """The jobs in ``state`` (``queue_state``) that ``extra`` and ``filter_expression`` select, oldest first."""
        jobs = []
        for page in self._query_active(extra, values, state=state, filter_expression=filter_expression):
            for item in page["Items"]:
                data = deserialize(item)
                jobs.append(ActiveJob.model_validate({**data, "job_id": data["pk"].removeprefix(job_pk("")),
                                                      "state": data["queue_state"]}))
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

    # -- usage (quotas) --------------------------------------------------------------------------------------------
    def charge(self, account: str, charges: Sequence[Charge], now: datetime) -> tuple[Meter, int] | None:
        """Add each ``(meter, amount, limit)`` to ``account``'s count in the meter's current window, all or nothing
        (one transaction): refused whole when any count would exceed its limit (0 = counted, unlimited).

        Returns None when charged, else the first meter (in ``charges``' order) that did not fit and the seconds until
        its window ends (for ``Retry-After``).
        """
        charges = checked_charges(charges)
        if not charges:
            return None
        items = []
        for meter, amount, limit in charges:
            update = self._usage_update(account, meter, amount, now)
            if limit:
                update["ConditionExpression"] = "attribute_not_exists(#count) OR #count <= :room"
                update["ExpressionAttributeValues"] |= serialize({":room": limit - amount})
            items.append({"Update": update})
        attempt = 1
        while True:
            try:
                self._db.transact_write_items(TransactItems=items)
                return None
            except ClientError as error:
                codes = _cancellation_codes(error)
                if codes is None:
                    raise
                if "ConditionalCheckFailed" in codes:
                    meter = charges[codes.index("ConditionalCheckFailed")][0]
                    return meter, seconds_left(meter, now)
                if attempt >= _TRANSACTION_ATTEMPTS:  # other writes to these items kept conflicting (or throttled)
                    raise
            time.sleep(0.02 * 2**attempt)
            attempt += 1

    def add_usage(self, account: str, meter: Meter, amount: int, now: datetime) -> None:
        """Add ``amount`` to ``account``'s count of ``meter`` in the window of ``now``, unconditionally (what was
        used already: GPU seconds)."""
        self._db.update_item(**self._usage_update(account, meter, amount, now))

    def _usage_update(self, account: str, meter: Meter, amount: int, now: datetime) -> dict[str, Any]:
        """The UpdateItem request adding ``amount`` to ``account``'s count of ``meter`` in the window of ``now``
        (creating the item, with its expiry, the first time)."""
        start = window_start(meter, now)
        return {"TableName": self._table, "Key": serialize({"pk": usage_pk(account, meter, start)}),
                "UpdateExpression": "ADD #count :amount SET expires_at = :expires",
                "ExpressionAttributeNames": {"#count": "count"},
                "ExpressionAttributeValues": serialize({":amount": amount, ":expires": _usage_expiry(meter, start)})}

    def usage(self, account: str, meters: Sequence[Meter], now: datetime) -> dict[Meter, int]:
        """``account``'s count of each meter in its window of ``now`` (0 when nothing was counted), in one read."""
        if not meters:
            return {}
        by_pk = {usage_pk(account, meter, window_start(meter, now)): meter for meter in meters}
        counts = dict.fromkeys(meters, 0)
        request: dict[str, Any] = {self._table: {"Keys": [serialize({"pk": pk}) for pk in by_pk],
                                                 "ConsistentRead": True, "ProjectionExpression": "pk, #count",
                                                 "ExpressionAttributeNames": {"#count": "count"}}}
        while request:
            response = self._db.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                data = deserialize(item)
                counts[by_pk[data["pk"]]] = int(data.get("count", 0))
            request = response.get("UnprocessedKeys") or {}
        return counts

    # -- counters and heartbeat ------------------------------------------------------------------------------------
    def _count(self, state: JobState) -> None:
        """Count a job reaching ``state`` (metrics only): best effort, so a throttled counter never undoes the write
        it follows (a created job without its message, a cancel without its marker)."""
        try:
            self._db.update_item(
                TableName=self._table, Key=serialize({"pk": "stats"}), UpdateExpression="ADD #s :one",
                ExpressionAttributeNames={"#s": state.value.lower()}, ExpressionAttributeValues=serialize({":one": 1}),
            )
        except (BotoCoreError, ClientError):
            _log.warning("the %s counter was not incremented", state.value.lower(), exc_info=True)

    def counters(self) -> dict[str, int]:
        """Jobs that reached each state since the table was created."""
        item = self._db.get_item(TableName=self._table, Key=serialize({"pk": "stats"})).get("Item")
        counts = deserialize(item) if item else {}
        return {state.value.lower(): int(counts.get(state.value.lower(), 0)) for state in JobState}

    def heartbeat(self, device: str, now: datetime | None = None) -> None:
        """Record that a worker with ``device`` is alive (called by workers)."""
        item = {"pk": "worker#heartbeat", "last_seen": now or utcnow(), "device": device}
        self._db.put_item(TableName=self._table, Item=serialize(item))

    def last_heartbeat(self) -> tuple[datetime, str] | None:
        """When a worker last reported itself, and its device; None if never."""
        item = self._db.get_item(TableName=self._table, Key=serialize({"pk": "worker#heartbeat"})).get("Item")
        if not item:
            return None
        data = deserialize(item)
        return datetime.strptime(data["last_seen"], _TIME_FORMAT).replace(tzinfo=utcnow().tzinfo), data["device"]


def _update_expression(
    fields: dict[str, Any], removed: list[str] | None = None
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``SET`` the fields that have a value and ``REMOVE`` those set to None (plus ``removed``)."""
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    sets = [f"#f{i} = :v{i}" for i, value in enumerate(fields.values()) if value is not None]
    removes = [f"#f{i}" for i, value in enumerate(fields.values()) if value is None]
    for j, name in enumerate(removed or []):
        names[f"#r{j}"] = name
        removes.append(f"#r{j}")
    values = {f":v{i}": value for i, value in enumerate(fields.values()) if value is not None}
    expression = " ".join(part for part in ("SET " + ", ".join(sets) if sets else "",
                                            "REMOVE " + ", ".join(removes) if removes else "") if part)
    return expression, names, values


def _record(item: dict[str, Any]) -> JobRecord:
    return JobRecord.model_validate(deserialize(item))


def _cancellation_codes(error: ClientError) -> list[str | None] | None:
    """Why a transaction was cancelled, one code per item in order (``ConditionalCheckFailed``,
    ``TransactionConflict``, ``None``, ...); None when ``error`` is not a cancelled transaction."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons: list[dict[str, Any]] = error.response.get("CancellationReasons", [])
    return [reason.get("Code") for reason in reasons]


def _decode_cursor(cursor: str, owner: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise CursorError("cursor is not one this API returned") from error
    if not isinstance(key, dict) or key.get("owner") != owner or set(key) != {"pk", "owner", "created_at"}:
        raise CursorError("cursor is not one this API returned for this API key")
    return serialize(key)
