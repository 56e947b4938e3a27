"""Usage items of the job table: what one account used of one quota (``shared.accounts.Meter``) in one fixed UTC
window, ``usage#{account}#{meter}#{window_start}`` (``count``), expiring one window after the window ends."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from shared.contract import Meter
from shared.store.codec import deserialize, serialize
from shared.store.table import Table

_TRANSACTION_ATTEMPTS = 3  # a charge that conflicts with another transaction on the same items is tried again

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


class UsageMeters(Table):
    """Quota counts: charged in one transaction, added, read (``shared.ports.Usage``)."""

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

    def _usage_update(self, account: str, meter: Meter, amount: int, now: datetime) -> dict[str, Any]:
        """The UpdateItem request adding ``amount`` to ``account``'s count of ``meter`` in the window of ``now``
        (creating the item, with its expiry, the first time)."""
        start = window_start(meter, now)
        return {"TableName": self._table, "Key": serialize({"pk": usage_pk(account, meter, start)}),
                "UpdateExpression": "ADD #count :amount SET expires_at = :expires",
                "ExpressionAttributeNames": {"#count": "count"},
                "ExpressionAttributeValues": serialize({":amount": amount, ":expires": _usage_expiry(meter, start)})}


def _cancellation_codes(error: ClientError) -> list[str | None] | None:
    """Why a transaction was cancelled, one code per item in order (``ConditionalCheckFailed``,
    ``TransactionConflict``, ``None``, ...); None when ``error`` is not a cancelled transaction."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    reasons: list[dict[str, Any]] = error.response.get("CancellationReasons", [])
    return [reason.get("Code") for reason in reasons]
