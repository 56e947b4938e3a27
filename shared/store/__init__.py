"""The job table: one DynamoDB table (hash key ``pk``), every job write conditional, in four parts.

Items::

    job#{job_id}            a JobRecord (``jobs``); ``queue_state`` keys the sparse active-job index (``active``)
    usage#{account}#{meter}#{window_start}
                            what one account used of one quota in one window (``usage``)
    stats                   counters of jobs reaching each state, for /metrics (``fleet``)
    worker#heartbeat        last time a GPU worker reported itself (``last_seen``, ``device``; ``fleet``)

Indexes: ``owner-created`` (owner, created_at) lists a caller's jobs; ``active-created`` (queue_state, created_at)
gives queue positions and the reconciler's candidates. ``expires_at`` is the TTL attribute. ``codec`` writes and
reads the items. Each part is a store of its own (``JobItems``, ``ActiveJobIndex``, ``UsageMeters``, ``FleetStats``,
the ports ``Jobs``, ``ActiveJobs``, ``Usage``, ``Fleet`` of ``shared.ports``); ``JobStore`` is all four on one client.
"""

from __future__ import annotations

from shared.store.active import ACTIVE_INDEX, NOTIFY, ActiveJobIndex
from shared.store.codec import deserialize, job_pk, serialize
from shared.store.fleet import FleetStats
from shared.store.jobs import OWNER_INDEX, CursorError, JobItems
from shared.store.usage import Charge, UsageMeters, checked_charges, seconds_left, usage_pk, window_start

__all__ = [
    "ACTIVE_INDEX", "NOTIFY", "OWNER_INDEX", "ActiveJobIndex", "Charge", "CursorError", "FleetStats", "JobItems",
    "JobStore", "UsageMeters", "checked_charges", "deserialize", "job_pk", "seconds_left", "serialize", "usage_pk",
    "window_start",
]


class JobStore(JobItems, ActiveJobIndex, UsageMeters, FleetStats):
    """The whole job table (``shared.ports.JobTable``): job items, the active-job index, usage and the fleet on one
    DynamoDB client (``JobStore(dynamodb, table_name)``, as each part)."""
