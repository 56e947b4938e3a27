"""Request limits that protect the workers, and the table's counters staying best effort."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from infrastructure.local.template import load_template
from shared.contract import FRONTEND_EXAMPLE, MAX_STEPS, MIN_STEPS, GenerateRequest
from shared.settings import Settings
from shared.store import JobStore
from shared.timeline import MAX_SECONDS
from tests.support.fakes import client_error
from tests.support.job_table import FakeJobTable
from tests.unit.functions.conftest import put_job


@pytest.mark.parametrize("steps", [0, 1, MAX_STEPS + 1, 200])
def test_steps_outside_what_the_sampler_can_use_are_refused_naming_the_field(steps):
    with pytest.raises(ValidationError) as caught:
        GenerateRequest(**{**FRONTEND_EXAMPLE, "steps": steps})
    assert caught.value.errors()[0]["loc"] == ("steps",)


def test_the_default_rate_limit_admits_the_costliest_request():
    """A limit below one request's cost would refuse that request for ever: the default (the same in the settings
    and the template) leaves room for the costliest request the contract accepts."""
    limits = GenerateRequest.model_fields["batch_size"].metadata
    most = max(m.le for m in limits if hasattr(m, "le"))
    costliest = GenerateRequest(**{**FRONTEND_EXAMPLE, "audio_length": MAX_SECONDS, "steps": MAX_STEPS,
                                   "batch_size": most})
    default = Settings.model_fields["rate_limit_per_hour"].default
    assert load_template()["Parameters"]["RateLimitPerHour"]["Default"] == default
    assert costliest.cost_units() <= default


def test_steps_within_the_limits_are_accepted():
    assert GenerateRequest(**{**FRONTEND_EXAMPLE, "steps": MIN_STEPS}).sampling().steps == MIN_STEPS
    assert GenerateRequest(**{**FRONTEND_EXAMPLE, "steps": MAX_STEPS}).sampling().steps == MAX_STEPS


class _ThrottledCounters:
    """A DynamoDB client whose job writes succeed and whose counter updates are throttled."""

    def __init__(self) -> None:
        self.puts = 0

    def put_item(self, **kwargs: object) -> dict[str, object]:
        self.puts += 1
        return {}

    def update_item(self, **kwargs: object) -> dict[str, object]:
        raise client_error("ProvisionedThroughputExceededException", "UpdateItem")


def test_a_throttled_counter_does_not_undo_the_job_it_counts():
    db = _ThrottledCounters()
    record = put_job(FakeJobTable())
    assert JobStore(db, "jobs").create(record) is True and db.puts == 1


def _cost(**fields: object) -> int:
    return GenerateRequest(**{**FRONTEND_EXAMPLE, **fields}).cost_units()


def test_a_default_job_costs_one_unit_and_cost_grows_with_length_steps_and_variations():
    assert _cost() == 1  # 95 s, preset high (32 steps), one variation
    assert _cost(preset="preview") == _cost(steps=MIN_STEPS) == 1  # cheaper than a unit still costs one
    assert _cost(audio_length=190) == 2 and _cost(batch_size=4) == 4 and _cost(preset="maximum") == 2
    assert _cost(audio_length=285, batch_size=4, preset="ultra") == 38  # 285/95 x 100/32 x 4 = 37.5, rounded up
    assert _cost(audio_length=285, batch_size=4, steps=MAX_STEPS, preset="preview") == 38  # steps override presets
    assert _cost(audio_length=96) == 2  # any part of a unit is charged


def test_the_active_job_index_key_follows_the_state_queued_running_then_notify_until_notified():
    """``queue_state`` (the active-job index's key) is RUNNING after a claim, QUEUED after a re-queue (on the
    condition that no lease holds), NOTIFY when final, and removed once notified (only from a final state)."""
    from datetime import UTC, datetime, timedelta

    from shared.states import JobState
    from shared.store import serialize

    job = put_job(FakeJobTable())

    class Recording:
        def __init__(self) -> None:
            self.updates: list[dict[str, Any]] = []

        def update_item(self, **kwargs: Any) -> dict[str, Any]:
            self.updates.append(kwargs)
            return {"Attributes": serialize({**job.model_dump(), "pk": f"job#{job.job_id}"})}

    db, now = Recording(), datetime(2030, 1, 1, tzinfo=UTC)
    store = JobStore(db, "jobs")
    store.claim(job.job_id, now, now + timedelta(minutes=5))
    store.transition(job.job_id, JobState.QUEUED, lease_ended_before=now)
    store.transition(job.job_id, JobState.FAILED)
    store.notified(job.job_id)
    claim, requeue, fail, notified = (u for u in db.updates if u["Key"] != {"pk": {"S": "stats"}})

    def assigned(update: dict[str, Any]) -> dict[str, Any]:
        names, values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
        sets = update["UpdateExpression"].split(" REMOVE ")[0].removeprefix("SET ").split(", ")
        return {names[n]: values[v] for n, v in (part.split(" = ") for part in sets)}

    assert assigned(claim)["queue_state"] == {"S": "RUNNING"}
    assert assigned(requeue)["queue_state"] == {"S": "QUEUED"}
    assert "#lease < :lease_end" in requeue["ConditionExpression"]
    assert assigned(fail)["queue_state"] == {"S": "NOTIFY"}  # the reconciler's until its webhook event is queued
    assert notified["UpdateExpression"] == "REMOVE #queue" and notified["ExpressionAttributeNames"]["#queue"] == \
        "queue_state"
    final = {v["S"] for k, v in notified["ExpressionAttributeValues"].items() if k.startswith(":final")}
    assert final == {"COMPLETED", "FAILED", "CANCELLED"} and "#status IN" in notified["ConditionExpression"]


@pytest.mark.parametrize(("prompt", "accepted"), [
    ("流行", True), ("摇滚乐", True), ("ロック", True), ("케이팝", True), ("pop", True), ("R&B", True), ("lo fi", True),
    ("流", False), ("ab", False), ("", False),
])
def test_a_style_prompt_is_measured_by_what_it_says_two_han_characters_are_a_style(prompt, accepted):
    body = {"lyrics": "[00:01.00]hello there", "style_prompt": prompt}
    if accepted:
        assert GenerateRequest.model_validate(body).style_prompt == prompt
    else:
        with pytest.raises(ValidationError, match="at least 3 characters, or 2 Chinese"):
            GenerateRequest.model_validate(body)
