"""``JobStore.charge`` and ``usage``: the requests DynamoDB receives, and how a cancelled transaction is read (the moto
tests in tests/functional/test_job_store.py run the same transactions for real)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.accounts import Meter
from shared.store import JobStore, deserialize, serialize

AT = datetime(2030, 1, 1, 10, 30, tzinfo=UTC)
HOUR, DAY = int(datetime(2030, 1, 1, 10, tzinfo=UTC).timestamp()), int(datetime(2030, 1, 1, tzinfo=UTC).timestamp())
UNITS, JOBS = Meter.UNITS_PER_HOUR, Meter.JOBS_PER_HOUR


def cancelled(*codes: str) -> ClientError:
    """A TransactionCanceledException as botocore raises it: one reason per item, in order."""
    return ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": [{"Code": code} for code in codes]}, "TransactWriteItems")


class Transactions:
    """A DynamoDB client whose transactions fail with ``failures`` in turn, then succeed."""

    def __init__(self, *failures: ClientError) -> None:
        self.failures, self.calls = list(failures), []

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs["TransactItems"])
        if self.failures:
            raise self.failures.pop(0)
        return {}


def test_one_transaction_adds_every_meter_and_only_limited_meters_have_a_condition():
    db = Transactions()
    assert JobStore(db, "jobs").charge("acme", [(UNITS, 3, 40), (JOBS, 1, 0)], AT) is None
    ((units, jobs),) = db.calls
    assert deserialize(units["Update"]["Key"]) == {"pk": f"usage#acme#units_per_hour#{HOUR}"}
    assert deserialize(units["Update"]["ExpressionAttributeValues"]) == {":amount": 3, ":room": 37,
                                                                         ":expires": HOUR + 7200}
    assert units["Update"]["ConditionExpression"] == "attribute_not_exists(#count) OR #count <= :room"
    assert "ConditionExpression" not in jobs["Update"]  # 0 = unlimited: counted only


def test_the_meter_named_is_the_item_whose_condition_failed():
    db = Transactions(cancelled("None", "ConditionalCheckFailed"))
    assert JobStore(db, "jobs").charge("acme", [(UNITS, 3, 40), (JOBS, 1, 20)], AT) == (JOBS, 1800)
    assert len(db.calls) == 1


def test_a_conflicting_transaction_is_tried_again_and_raised_when_it_keeps_conflicting(monkeypatch):
    monkeypatch.setattr("shared.store.usage.time.sleep", lambda _: None)
    db = Transactions(cancelled("TransactionConflict", "None"))
    assert JobStore(db, "jobs").charge("acme", [(UNITS, 3, 40), (JOBS, 1, 20)], AT) is None
    assert len(db.calls) == 2
    stuck = Transactions(*[cancelled("TransactionConflict", "None")] * 3)
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        JobStore(stuck, "jobs").charge("acme", [(UNITS, 3, 40), (JOBS, 1, 20)], AT)
    assert len(stuck.calls) == 3


@pytest.mark.parametrize("charges", [[(UNITS, 41, 40)], [(UNITS, -1, 40)], [(UNITS, 1, 40), (UNITS, 1, 40)]],
                         ids=["never fits", "negative", "a meter twice"])
def test_charges_that_could_never_be_written_are_a_value_error(charges):
    db = Transactions()
    with pytest.raises(ValueError):
        JobStore(db, "jobs").charge("acme", charges, AT)
    assert db.calls == []


class Reads:
    """A DynamoDB client whose first BatchGetItem leaves one key unprocessed."""

    def __init__(self, items: dict[str, int]) -> None:
        self.items, self.requests = items, []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        keys = RequestItems["jobs"]["Keys"]
        found = [serialize({"pk": pk, "count": self.items[pk]}) for pk in
                 (deserialize(key)["pk"] for key in keys[:1]) if pk in self.items]
        rest = {"jobs": {**RequestItems["jobs"], "Keys": keys[1:]}} if keys[1:] else {}
        return {"Responses": {"jobs": found}, "UnprocessedKeys": rest}


def test_usage_reads_each_meters_current_window_consistently_and_follows_unprocessed_keys():
    db = Reads({f"usage#acme#units_per_hour#{HOUR}": 7, f"usage#acme#gpu_seconds_per_day#{DAY}": 90})
    counts = JobStore(db, "jobs").usage("acme", list(Meter), AT)
    assert counts == {UNITS: 7, JOBS: 0, Meter.GPU_SECONDS_PER_DAY: 90, Meter.UPLOADS_PER_DAY: 0}
    assert len(db.requests) == 4 and db.requests[0]["jobs"]["ConsistentRead"] is True
