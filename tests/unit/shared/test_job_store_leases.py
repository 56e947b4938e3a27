"""``JobStore.claim`` records its claim's token (``lease_owner``), and ``set_fields(only_if_lease_owner=...)`` writes
only while the job is still that claim's: the requests DynamoDB receives (the moto test in
tests/functional/test_job_store.py runs the same conditions for real)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.states import JobState
from shared.store import JobStore, serialize
from tests.support.fakes import client_error
from tests.support.job_table import FakeJobTable
from tests.unit.functions.conftest import put_job

NOW = datetime(2030, 1, 1, tzinfo=UTC)


class Recording:
    """A DynamoDB client that records its updates; ``refuse`` makes their condition fail."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.item, self.updates, self.refuse = item, [], False

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.append(kwargs)
        if self.refuse:
            raise client_error("ConditionalCheckFailedException", "UpdateItem")
        return {"Attributes": serialize(self.item)}


def _store() -> tuple[JobStore, Recording]:
    job = put_job(FakeJobTable())
    db = Recording({**job.model_dump(), "pk": f"job#{job.job_id}"})
    return JobStore(db, "jobs"), db


def _assigned(update: dict[str, Any]) -> dict[str, Any]:
    names, values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
    sets = update["UpdateExpression"].split(" REMOVE ")[0].removeprefix("SET ").split(", ")
    return {names[n]: values[v] for n, v in (part.split(" = ") for part in sets)}


def _removed(update: dict[str, Any]) -> set[str]:
    removes = update["UpdateExpression"].partition(" REMOVE ")[2]
    return {update["ExpressionAttributeNames"][n] for n in removes.split(", ")} if removes else set()


def test_a_claim_writes_its_token_and_one_without_a_token_removes_the_last_holders():
    store, db = _store()
    store.claim("j-1", NOW, NOW + timedelta(minutes=5), lease_owner="w-1/0", attempts=1)
    store.claim("j-1", NOW, NOW + timedelta(minutes=5))
    with_token, without = db.updates
    assert _assigned(with_token)["lease_owner"] == {"S": "w-1/0"}
    assert "lease_owner" not in _assigned(without) and "lease_owner" in _removed(without)  # never inherited


def test_a_lease_write_can_require_the_claims_token():
    store, db = _store()
    assert store.set_fields("j-1", only_if=JobState.RUNNING, only_if_lease_owner="w-1/0", lease_until=NOW)
    update = db.updates[-1]
    names, values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
    assert "#status = :only AND" in update["ConditionExpression"]
    assert "#lease_owner = :lease_owner" in update["ConditionExpression"]
    assert names["#lease_owner"] == "lease_owner" and values[":lease_owner"] == {"S": "w-1/0"}
    db.refuse = True
    assert store.set_fields("j-1", only_if_lease_owner="w-1/0", lease_until=NOW) is False  # another claim's now
    store.set_fields("j-1", only_if=JobState.RUNNING, progress_stage="sampling")
    assert "lease_owner" not in db.updates[-1]["ConditionExpression"]  # without it: as before
