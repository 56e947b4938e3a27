"""Job states and the one table of allowed transitions.

QUEUED -> RUNNING -> COMPLETED | FAILED | CANCELLED. A job may also finish straight from QUEUED (cancelled before a
worker took it, dead-lettered, or an out-of-order completion event). RUNNING -> RUNNING is a worker (re)claiming the
job after a redelivery, and only once the previous worker's lease has ended (``JobStore.claim``). RUNNING -> QUEUED is
the reconciler re-queuing a job whose worker died and whose message was lost, again only once its lease has ended.
Final states never change.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """Internal job state, stored in DynamoDB."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        """True for COMPLETED, FAILED and CANCELLED."""
        return self in FINAL_STATES

    @property
    def wire(self) -> str:
        """The frontend contract's lowercase status string (RUNNING is ``processing``)."""
        return _WIRE[self]


FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

_WIRE = {
    JobState.QUEUED: "queued",
    JobState.RUNNING: "processing",
    JobState.COMPLETED: "completed",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
}

#: target state -> the states a job may be in to move there
ALLOWED_FROM: dict[JobState, frozenset[JobState]] = {
    # only the reconciler re-queues (functions/status/reconcile.py), on the condition that the lease is still ended
    JobState.QUEUED: frozenset({JobState.RUNNING}),
    JobState.RUNNING: frozenset({JobState.QUEUED, JobState.RUNNING}),
    JobState.COMPLETED: frozenset({JobState.QUEUED, JobState.RUNNING}),
    JobState.FAILED: frozenset({JobState.QUEUED, JobState.RUNNING}),
    JobState.CANCELLED: frozenset({JobState.QUEUED, JobState.RUNNING}),
}


def can_transition(current: JobState, target: JobState) -> bool:
    """Whether a job in ``current`` may move to ``target``.

    Example
    -------
    >>> can_transition(JobState.COMPLETED, JobState.FAILED)
    False
    """
    return current in ALLOWED_FROM[target]
