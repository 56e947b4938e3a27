"""Leases fenced by their claim's token, and the heartbeat that renews them.

Every claim carries a token unique to it (``lease_owner``: this worker's id and a counter), and every later lease
write of the worker (renewal, release, progress) holds only while the job is still that claim's. A worker that fails
before or at its claim (a throttled read of a duplicate delivery) leaves the holder's lease alone; a worker whose
renewal finds another claim on its job (its lease lapsed and another worker took it, or the reconciler re-queued it)
stops renewing it and drops it untouched (``abandoned``): no outputs, no message call.

A job given back (retry, hand-back) keeps a lease that ends at once, never none: should its message be lost, the
reconciler sees a lease that ended long ago and re-queues the job.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from inference_container.diffrhythm.songs import SongRequest
from inference_container.worker.log import best_effort, logger
from inference_container.worker.settings import WorkerSettings
from inference_container.worker.transport import Message, Transport
from inference_container.worker.watchdog import Watchdog
from shared.ports import JobTable
from shared.records import JobRequestRecord, utcnow
from shared.states import JobState


@dataclass(frozen=True, eq=False)
class Claimed:
    """A job this worker moved to RUNNING, with its message, request and the claim's ``lease_owner`` token."""

    message: Message
    request: JobRequestRecord
    song: SongRequest
    token: str

    @property
    def job_id(self) -> str:
        return self.request.job_id


class Fence(Enum):
    """The answer of a fenced write (one that holds only while the claim still holds the job)."""

    WRITTEN = "written"  # the claim still holds the job (RUNNING under its lease): the fields are written
    REFUSED = "refused"  # it no longer does (taken over, re-queued, or final): nothing written
    UNKNOWN = "unknown"  # the write failed (throttled, unreachable; logged): nothing known, a later write asks again


@dataclass
class LeaseKeeper:
    """The claims of one worker: their tokens, the leases the heartbeat renews (``held``), the claims found taken
    over (``lost``) and whether the jobs in hand stalled (``abandoned``). ``beat`` is one heartbeat."""

    store: JobTable
    transport: Transport
    timer: Watchdog
    settings: WorkerSettings
    device: str
    worker_id: str
    _claims: Iterator[int] = field(default_factory=itertools.count)  # numbers this worker's claims
    _lock: threading.Lock = field(default_factory=threading.Lock)  # renewals never follow a release
    _held: dict[str, Claimed] = field(default_factory=dict)  # token -> claimed job, renewed by the heartbeat
    _abandoned: threading.Event = field(default_factory=threading.Event)  # the jobs in hand stalled
    _lost: set[str] = field(default_factory=set)  # tokens of claims another claim has replaced

    def token(self) -> str:
        """A new claim's token: this worker's id and the claim's number."""
        return f"{self.worker_id}/{next(self._claims)}"

    def lease_end(self, now: datetime) -> datetime:
        """A claim holds as long as the message stays invisible, and both are renewed at every heartbeat."""
        return now + timedelta(seconds=self.settings.visibility_s)

    def begin(self) -> None:
        """New messages in hand: none of them stalled or lost yet."""
        self._abandoned.clear()
        self._lost.clear()

    @property
    def abandoned(self) -> bool:
        """Whether the jobs in hand stalled: their leases were left to lapse."""
        return self._abandoned.is_set()

    def lost(self, claimed: Claimed) -> bool:
        """Whether another claim replaced this one (``taken_over``)."""
        return claimed.token in self._lost

    def gone(self, claimed: Claimed) -> bool:
        """Whether another worker may hold the job now: its group stalled (the leases lapsed) or another claim
        replaced this one."""
        return self.abandoned or self.lost(claimed)

    def keep(self, claims: list[Claimed]) -> Callable[[], None]:
        """Renew ``claims`` every ``heartbeat_s`` (a thread) until their outcome is known; answers the function that
        stops the heartbeat and the renewals."""
        done = threading.Event()
        with self._lock:
            self._held.update((c.token, c) for c in claims)
        heart = threading.Thread(target=self._heartbeat, args=(done,), daemon=True)
        heart.start()

        def stop() -> None:
            done.set()
            heart.join()
            with self._lock:
                for claimed in claims:
                    self._held.pop(claimed.token, None)

        return stop

    def release(self, token: str) -> None:
        """Stop renewing a claim's lease (its outcome is known)."""
        with self._lock:
            self._held.pop(token, None)

    def write(self, job_id: str, token: str, **fields: Any) -> bool:
        """Write ``fields`` on a job only while the claim ``token`` still holds it (RUNNING under that lease); False
        when it no longer does; a failed call raises. Every lease, progress and error write after a claim goes
        through here."""
        return self.store.set_fields(job_id, only_if=JobState.RUNNING, only_if_lease_owner=token, **fields)

    def fenced(self, what: str, job_id: str, token: str, **fields: Any) -> Fence:
        """``write``, its failure logged as ``what`` instead of raised."""
        try:
            written = self.write(job_id, token, **fields)
        except Exception:
            logger.exception(f"{what} failed")
            return Fence.UNKNOWN
        return Fence.WRITTEN if written else Fence.REFUSED

    def renew(self, claimed: Claimed, what: str) -> Fence:
        """Renew a claim's lease now (``fenced``), never after its release."""
        with self._lock:
            return self.fenced(what, claimed.job_id, claimed.token, lease_until=self.lease_end(utcnow()))

    def release_with(self, what: str, job_id: str, token: str, **fields: Any) -> Fence:
        """Stop renewing a claim and write ``fields`` under it (``fenced``), with no renewal in between."""
        with self._lock:
            self._held.pop(token, None)
            return self.fenced(what, job_id, token, **fields)

    def taken_over(self, claimed: Claimed) -> bool:
        """After a lease write of ``claimed`` was refused: whether the job is no longer this claim's (another claim
        holds it, or the reconciler re-queued or it lost the job). Then it is marked lost: no more renewals, and it
        is dropped at its next step. A final job is not taken over (the cancel check stops it); a failed read
        decides nothing (the next write asks again)."""
        try:
            job = self.store.get(claimed.job_id)
        except Exception:
            logger.exception("reading a job whose lease write failed", extra={"job_id": claimed.job_id})
            return False
        if job is not None and (job.status.is_final or (job.status is JobState.RUNNING
                                                         and job.lease_owner == claimed.token)):
            return False
        logger.warning("job taken over by another claim; this worker drops it",
                       extra={"job_id": claimed.job_id, "status": job.status if job else None})
        with self._lock:
            self._held.pop(claimed.token, None)
            self._lost.add(claimed.token)
        return True

    def _heartbeat(self, done: threading.Event) -> None:
        """Every ``heartbeat_s`` until ``done``: one ``beat``."""
        while not done.wait(self.settings.heartbeat_s):
            self.beat()

    def beat(self) -> None:
        """Keep the jobs in hand leased and their messages invisible while they make progress (so no other worker
        takes them); once they have made none for ``stall_s``, renew nothing: leases and messages lapse, the jobs
        come back to other workers, and the health check (published here) reports this worker unhealthy. A renewal
        that finds another claim on its job ends that job's renewals (``taken_over``)."""
        best_effort("writing the health file", self.timer.publish)
        if self.timer.stalled():
            if not self._abandoned.is_set():
                logger.error("no progress; leases left to lapse", extra={"stall_s": self.settings.stall_s,
                                                                          "job_ids": [c.job_id for c in
                                                                                      self._held.values()]})
            self._abandoned.set()
            return
        try:
            for claimed in list(self._held.values()):  # the lease first: it never outlives the message's
                with self._lock:  # invisibility by much
                    if claimed.token not in self._held:
                        continue  # released meanwhile (handed back, retried or finished)
                    renewed = self.write(claimed.job_id, claimed.token, lease_until=self.lease_end(utcnow()))
                if not renewed and self.taken_over(claimed):
                    continue  # its message is left alone: it may be the new holder's delivery
                self.transport.visibility(claimed.message, self.settings.visibility_s)
            self.store.heartbeat(self.device)
        except Exception:  # the next beat tries again; the visibility window covers a missed one
            logger.exception("heartbeat failed")
