"""The worker loop: long-poll SQS, claim the job in DynamoDB, keep the message invisible while working, write the
outputs, delete the message.

Its parts, each in its module: ``transport`` (the queue), ``claim`` (a message's job to RUNNING), ``lease`` (claim
tokens, fenced writes, the heartbeat), ``control`` (the progress callback: cancel, time limit, SIGTERM), ``batching``
(sampling groups), ``generation`` (group by group, delivery on a thread), ``settle`` (the outcomes of one message),
``protection`` (ECS task protection) and ``metrics``.
"""

from __future__ import annotations

import signal
import threading
import uuid
from typing import Any

from inference_container.worker import health
from inference_container.worker.claim import Claimer
from inference_container.worker.control import Shutdown
from inference_container.worker.generation import Generation
from inference_container.worker.job import JobRunner
from inference_container.worker.lease import LeaseKeeper
from inference_container.worker.log import best_effort, logger
from inference_container.worker.retries import LyricRetries
from inference_container.worker.settings import WorkerSettings
from inference_container.worker.settle import Outcome, Settlement, plain_reason
from inference_container.worker.transport import Message, Transport
from inference_container.worker.watchdog import Watchdog
from shared.ports import JobTable

__all__ = ["Outcome", "Worker", "logger", "plain_reason"]


class Worker:
    """Processes job messages one batch at a time. ``stats`` counts outcomes (for tests and logs); ``watchdog``
    times progress (built from the settings unless given); ``worker_id`` starts the token of each of its claims.
    Its parts: ``transport``, ``leases`` (``leases.beat()`` is one heartbeat), ``claims``, ``generation`` and
    ``settlement``; ``settings``, ``sqs`` and ``retry_delay_s`` may be replaced, and reach every part."""

    def __init__(self, settings: WorkerSettings, runner: JobRunner, store: JobTable, sqs: Any, device: str = "cpu",
                 retry_delay_s: int = 30, stats: dict[str, int] | None = None, watchdog: Watchdog | None = None,
                 worker_id: str | None = None) -> None:
        self.stats: dict[str, int] = {} if stats is None else stats
        timer = Watchdog(settings.stall_s, settings.max_run_s) if watchdog is None else watchdog
        self.shutdown = Shutdown()
        self.transport = Transport(sqs, settings)
        self.leases = LeaseKeeper(store, self.transport, timer, settings, device, worker_id or uuid.uuid4().hex)
        self.settlement = Settlement(runner, self.leases, self.transport, timer, retry_delay_s)
        self.claims = Claimer(store, runner, self.leases, self.transport, self.settlement)
        self.generation = Generation(runner, self.leases, self.settlement, timer, self.shutdown, settings,
                                     LyricRetries(store))
        self._lock = threading.Lock()  # SageMaker invocations run one at a time

    @property
    def timer(self) -> Watchdog:
        """The watchdog that times progress (the ``watchdog`` given, else one built from the settings)."""
        return self.leases.timer

    @property
    def runner(self) -> JobRunner:
        return self.settlement.runner

    @property
    def store(self) -> JobTable:
        return self.leases.store

    @property
    def device(self) -> str:
        return self.leases.device

    @property
    def worker_id(self) -> str:
        return self.leases.worker_id

    @property
    def settings(self) -> WorkerSettings:
        return self.transport.settings

    @settings.setter
    def settings(self, settings: WorkerSettings) -> None:
        self.transport.settings = self.leases.settings = self.generation.settings = settings

    @property
    def sqs(self) -> Any:
        return self.transport.sqs

    @sqs.setter
    def sqs(self, sqs: Any) -> None:
        self.transport.sqs = sqs

    @property
    def retry_delay_s(self) -> int:
        return self.settlement.retry_delay_s

    @retry_delay_s.setter
    def retry_delay_s(self, seconds: int) -> None:
        self.settlement.retry_delay_s = seconds

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: stop taking messages, finish or hand back the job in hand within ``grace_s``."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        signal.signal(signal.SIGINT, lambda *_: self.stop())

    def stop(self, grace_s: float | None = None) -> None:
        """Ask the worker to stop; the job in hand gets ``grace_s`` (default: the setting) to finish."""
        self.shutdown.stop(self.settings.grace_s if grace_s is None else grace_s)

    @property
    def stopping(self) -> bool:
        return self.shutdown.stopping

    def run(self, max_messages: int | None = None) -> None:
        """Poll until stopped (or ``max_messages`` handled)."""
        handled = 0
        self.timer.health_file = health.HEALTH_FILE
        backoff = self.transport.backoff()
        while not self.stopping and (max_messages is None or handled < max_messages):
            best_effort("worker heartbeat", self.store.heartbeat, self.device)
            best_effort("writing the health file", self.timer.polled)
            messages = self.transport.receive(backoff, self.shutdown.wait)
            if self.stopping:  # stopped during the long poll: what arrived goes back untouched, unclaimed
                for message in messages:
                    self.transport.visibility(message, 0)
                break
            if messages:
                self.handle_many(messages)
                handled += len(messages)

    # -- messages --------------------------------------------------------------------------------------------------
    def handle(self, message: Message) -> Outcome:
        """Process one SQS message; returns the outcome's name."""
        return self.handle_many([message])[0]

    def handle_many(self, messages: list[Message]) -> list[Outcome]:
        """Claim the messages' jobs, then generate those that can share a sampling batch together (at most
        ``max_rows`` rows per group). One heartbeat renews every claimed job until its outcome is known."""
        outcomes: dict[int, Outcome] = {}
        self.leases.begin()
        self.timer.begin()
        try:
            claims = []
            for message in messages:
                claimed = self.claims.claim(message)
                if isinstance(claimed, Outcome):
                    outcomes[id(message)] = claimed
                else:
                    claims.append(claimed)
            if claims:
                for claimed, outcome in self.generation.run_all(claims).items():
                    outcomes[id(claimed.message)] = outcome
        finally:
            self.timer.end()
        for outcome in outcomes.values():
            self.stats[outcome] = self.stats.get(outcome, 0) + 1
        logger.info("messages handled", extra={"outcomes": list(outcomes.values())})
        return [outcomes[id(m)] for m in messages]

    def handle_payload(self, body: str) -> Outcome:
        """Process a job message that did not come from SQS (SageMaker async invocations): no visibility to keep."""
        with self._lock:
            return self.handle({"Body": body, "ReceiptHandle": None})
