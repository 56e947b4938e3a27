"""The worker over in-memory fakes: a stand-in pipeline and a watchdog on a clock that stands still until moved."""

from __future__ import annotations

import pytest

from inference_container.worker.job import JobRunner
from inference_container.worker.loop import Worker
from inference_container.worker.settings import WorkerSettings
from inference_container.worker.watchdog import Watchdog
from tests.support.fakes import FakeObjectStore, FakeQueue
from tests.support.job_table import FakeJobTable
from tests.support.pipeline import StandInPipeline
from tests.unit.conftest import BUCKET, QUEUE_URL

STALL_S, MAX_RUN_S, MAX_ROWS = 600.0, 1800.0, 8


class Ticks:
    """A monotonic clock (seconds) that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def pipeline() -> StandInPipeline:
    return StandInPipeline()


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def settings() -> WorkerSettings:
    return WorkerSettings(_env_prefix="DIFFRHYTHM_UNIT_TEST_", bucket_name=BUCKET, queue_url=QUEUE_URL,
                          progress_interval_s=0, heartbeat_s=3600, grace_s=0, backoff_s=0, visibility_s=300,
                          stall_s=STALL_S, max_run_s=MAX_RUN_S, max_rows=MAX_ROWS)


@pytest.fixture
def worker(settings: WorkerSettings, table: FakeJobTable, s3: FakeObjectStore, sqs: FakeQueue,
           pipeline: StandInPipeline, ticks: Ticks) -> Worker:
    return Worker(settings, JobRunner(pipeline, s3, BUCKET), table, sqs, device="cpu", retry_delay_s=17,
                  watchdog=Watchdog(settings.stall_s, settings.max_run_s, clock=ticks))
