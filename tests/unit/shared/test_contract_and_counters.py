"""Request limits that protect the workers, and the table's counters staying best effort."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.contract import FRONTEND_EXAMPLE, MAX_STEPS, MIN_STEPS, GenerateRequest
from shared.jobs import JobStore
from tests.unit.fakes import FakeJobTable, client_error
from tests.unit.functions.conftest import put_job


@pytest.mark.parametrize("steps", [0, 1, MAX_STEPS + 1, 200])
def test_steps_outside_what_the_sampler_can_use_are_refused_naming_the_field(steps):
    with pytest.raises(ValidationError) as caught:
        GenerateRequest(**{**FRONTEND_EXAMPLE, "steps": steps})
    assert caught.value.errors()[0]["loc"] == ("steps",)


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
