"""Stopping a job group between two steps of the pipeline: its progress callback (``JobControl``) times each step,
writes progress, checks for cancellation, the run time and SIGTERM (``Shutdown``), and stops the group by raising one
``Stopped`` that carries the reason (``Stop``)."""

from __future__ import annotations

import threading
import time
from enum import Enum

from inference_container.worker.lease import Claimed, Fence, LeaseKeeper
from inference_container.worker.watchdog import Watchdog


class Stop(Enum):
    """Why a group stopped before its songs were done."""

    ABANDONED = "abandoned"  # stalled (its leases were left to lapse), or every job taken over by another claim
    TIMED_OUT = "timed_out"  # ran longer than ``max_run_s``
    HANDED_BACK = "handed_back"  # the worker is stopping and its grace has run out
    CANCELLED = "cancelled"  # every job cancelled (or taken over) while it ran


class Stopped(Exception):
    """Raised out of the pipeline by ``JobControl``: the group stops for ``reason``."""

    def __init__(self, reason: Stop) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Shutdown:
    """SIGTERM's part: whether the worker is stopping, and when its grace for the jobs in hand runs out."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._deadline: float | None = None

    def stop(self, grace_s: float) -> None:
        """Take no new message; the jobs in hand have ``grace_s`` to finish."""
        self._deadline = time.monotonic() + grace_s
        self._event.set()

    @property
    def stopping(self) -> bool:
        return self._event.is_set()

    def overdue(self) -> bool:
        """Whether the grace has run out (the jobs in hand are handed back)."""
        return self._deadline is not None and time.monotonic() > self._deadline

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less when told to stop meanwhile."""
        return self._event.wait(seconds)


class JobControl:
    """The pipeline's progress callback for a group: it times the step (watchdog), then stops the group when it was
    abandoned (stalled, or every job taken over), ran past ``max_run_s`` or must be handed back; progress writes
    (each only while the claim holds) at most every ``interval_s`` within a stage, and cancel checks. ``cancelled``
    holds the ids of the group's jobs found cancelled."""

    def __init__(self, group: list[Claimed], leases: LeaseKeeper, timer: Watchdog, shutdown: Shutdown,
                 interval_s: float) -> None:
        self.group, self.leases, self.timer, self.shutdown, self.interval_s = group, leases, timer, shutdown, interval_s
        self.cancelled: set[str] = set()
        self._stage, self._at = "", 0.0

    def __call__(self, stage: str, percent: float) -> None:
        self.timer.step()
        if self.leases.abandoned or self._all_lost():
            raise Stopped(Stop.ABANDONED)
        if self.timer.overran():
            raise Stopped(Stop.TIMED_OUT)
        if self.shutdown.overdue():
            raise Stopped(Stop.HANDED_BACK)
        now = time.monotonic()
        if stage == self._stage and now - self._at < self.interval_s:
            return
        self._stage, self._at = stage, now
        for claimed in self.group:
            if claimed.job_id in self.cancelled or self.leases.lost(claimed):
                continue
            written = self.leases.fenced("writing progress", claimed.job_id, claimed.token, progress_stage=stage,
                                         progress_percent=round(percent, 1))
            if written is Fence.REFUSED and not self.leases.taken_over(claimed):  # final: cancelled while we
                self.cancelled.add(claimed.job_id)  # worked (UNKNOWN: the write failed; the next report tries again)
        if self._all_lost():
            raise Stopped(Stop.ABANDONED)
        if all(c.job_id in self.cancelled or self.leases.lost(c) for c in self.group):
            raise Stopped(Stop.CANCELLED)

    def _all_lost(self) -> bool:
        return all(self.leases.lost(c) for c in self.group)
