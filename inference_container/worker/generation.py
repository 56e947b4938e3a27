"""Generating claimed jobs group by group (``batching.groups``) under one heartbeat and ECS task protection; a job
that misses its ``min_lyrics_accuracy`` is generated again (``retries``); each group's songs are delivered (encoded
and uploaded) on a thread while the next group samples."""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from inference_container.diffrhythm.songs import Song, SongRequest
from inference_container.errors import InputError
from inference_container.worker.batching import groups
from inference_container.worker.control import JobControl, Shutdown, Stopped
from inference_container.worker.job import JobRunner
from inference_container.worker.lease import Claimed, LeaseKeeper
from inference_container.worker.protection import protect_task
from inference_container.worker.retries import LyricRetries
from inference_container.worker.settings import WorkerSettings
from inference_container.worker.settle import Outcome, Settlement
from inference_container.worker.watchdog import Watchdog


@dataclass
class Generation:
    """Runs claimed jobs through ``runner`` (at most ``max_rows`` rows per sampling call) and settles each."""

    runner: JobRunner
    leases: LeaseKeeper
    settlement: Settlement
    timer: Watchdog
    shutdown: Shutdown
    settings: WorkerSettings
    retries: LyricRetries

    def run_all(self, claims: list[Claimed]) -> dict[Claimed, Outcome]:
        """Generate the claimed jobs group by group; the heartbeat and task protection cover them all."""
        stop_renewing = self.leases.keep(claims)
        protect_task(True)
        outcomes: dict[Claimed, Outcome | Future[Outcome]] = {}
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="deliver") as deliveries:
                for group in groups(claims, self.runner.pipeline.batch_key, self.settings.max_rows):
                    gone = [c for c in group if self.leases.gone(c)]  # stalled with an earlier group, or taken over
                    if gone:
                        outcomes.update(self.settlement.abandon(gone))
                    if mine := [c for c in group if c not in gone]:
                        self.timer.begin()  # each group has max_run_s
                        outcomes.update(self.generate(mine, deliveries))
            return {c: o.result() if isinstance(o, Future) else o for c, o in outcomes.items()}
        finally:
            stop_renewing()
            protect_task(False)

    def generate(self, group: list[Claimed], deliveries: Executor) -> Mapping[Claimed, Outcome | Future[Outcome]]:
        """Generate one group and settle each job; a job no longer this worker's is dropped (``unless_gone``).
        Songs are delivered by ``deliveries`` while the next group samples."""
        settlement = self.settlement
        control = JobControl(group, self.leases, self.timer, self.shutdown, self.settings.progress_interval_s)
        started = time.perf_counter()

        def attempt(requests: list[SongRequest], number: int) -> list[Song]:  # each attempt has max_run_s
            self.timer.begin()
            of = f"attempt {number} of {1 + self.retries.regenerations}"
            return self.runner.generate(requests, lambda stage, percent: control(f"{stage}, {of}", percent),
                                        self.settings.max_rows)

        try:
            songs = self.runner.generate([c.song for c in group], control, self.settings.max_rows)
            songs, short = self.retries.run(group, songs, attempt)
        except InputError as refused:
            if len(group) > 1:  # find the job at fault: run each alone
                return {claimed: outcome for c in group
                        for claimed, outcome in self.generate([c], deliveries).items()}
            fail = partial(settlement.fail, reason=str(refused), code="invalid_input")
            return {group[0]: settlement.unless_gone(group[0], fail)}
        except Stopped as stopped:
            return settlement.stopped(group, stopped.reason, control.cancelled)
        except Exception as error:
            retry = partial(settlement.retry_claim, error=error)
            return {c: settlement.unless_gone(c, retry) for c in group}
        outcomes: dict[Claimed, Outcome | Future[Outcome]] = {}
        for c, song in zip(group, songs, strict=True):
            if c.job_id in control.cancelled:
                outcomes[c] = settlement.unless_gone(c, settlement.cancelled)
            elif c.job_id in short:
                fail = partial(settlement.fail, reason=short[c.job_id], code="lyrics_below_minimum")
                outcomes[c] = settlement.unless_gone(c, fail)
            else:
                deliver = partial(settlement.deliver, song=song, started=started)
                outcomes[c] = deliveries.submit(settlement.unless_gone, c, deliver)
        return outcomes
