"""The worker's progress clock: when it last polled, when its jobs in hand started and last made progress.

The worker records a step at every progress report of the pipeline; its heartbeat asks ``stalled`` before renewing
leases (a stalled job's lease and message lapse, so another worker retries it), its progress callback asks
``overran`` (a job group over ``max_run_s`` is stopped), and ``publish`` writes what the health check reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from inference_container.worker import health


class Watchdog:
    """Progress and run time of the jobs in hand, on a monotonic ``clock`` (tests pass their own)."""

    def __init__(self, stall_s: float, max_run_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_s, self.max_run_s, self.clock = stall_s, max_run_s, clock
        self.health_file: str | None = None  # where ``publish`` writes; None: nowhere (SageMaker mode)
        self._polled: float | None = None
        self._started: float | None = None
        self._step: float | None = None
        self._lock = threading.Lock()

    def polled(self) -> None:
        """The worker polled its queue (it is alive and idle)."""
        self._polled = self.clock()
        self.publish()

    def begin(self) -> None:
        """Jobs are in hand from now: the run time and the stall clock start."""
        self._started = self._step = self.clock()
        self.publish()

    def step(self) -> None:
        """The jobs in hand made progress."""
        self._step = self.clock()

    def end(self) -> None:
        """No job in hand any more: the worker is alive and about to poll again."""
        self._started = self._step = None
        self._polled = self.clock()
        self.publish()

    def stalled(self) -> bool:
        """Whether jobs are in hand and made no progress for ``stall_s``."""
        step = self._step
        return step is not None and self.clock() - step >= self.stall_s

    def overran(self) -> bool:
        """Whether the jobs in hand have run longer than ``max_run_s``."""
        started = self._started
        return started is not None and self.clock() - started > self.max_run_s

    def run_time_words(self) -> str:
        """``max_run_s`` in plain words, for the reason a timed-out job shows ("30 minutes")."""
        seconds = self.max_run_s
        if seconds < 120:
            return f"{seconds:g} seconds"
        return f"{seconds / 60:g} minutes"

    def publish(self) -> None:
        """Write the health state file (``inference_container.worker.health``) when there is one to write."""
        if self.health_file is None:
            return
        now, wall = self.clock(), time.time()

        def to_wall(at: float | None) -> float | None:
            return None if at is None else wall - (now - at)

        with self._lock:  # the poll loop and the heartbeat thread both publish
            health.write(health.State(polled_at=to_wall(self._polled), progress_at=to_wall(self._step),
                                      stall_s=self.stall_s), self.health_file)
