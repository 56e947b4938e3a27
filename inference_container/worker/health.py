"""The image's health check (``python -m inference_container.worker.health``, exit 0 = healthy).

The SQS worker keeps a small state file (``HEALTH_FILE``, JSON): when it last polled the queue and, while a job is in
hand, when that job last made progress. It is healthy when it polled within ``POLL_STALE_S`` or its job progressed
within the worker's ``STALL_S`` (written into the file); a job in hand with no progress for ``STALL_S`` is unhealthy
however fresh the file, so ECS replaces the task. Without the file (SageMaker mode) the server's ``/ping`` decides.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass

HEALTH_FILE = os.environ.get("HEALTH_FILE", "/tmp/diffrhythm-worker.alive")
POLL_STALE_S = 120.0  # longer than a long poll plus the longest receive back-off


@dataclass(frozen=True)
class State:
    """What the worker last wrote: epoch seconds of its last poll and of its job's last progress (None: no job)."""

    polled_at: float | None
    progress_at: float | None
    stall_s: float

    def healthy(self, now: float) -> bool:
        """Not stalled on a job, and either polling or progressing."""
        if self.progress_at is not None:
            return now - self.progress_at < self.stall_s
        return self.polled_at is not None and now - self.polled_at < POLL_STALE_S


def write(state: State, path: str | None = None) -> None:
    """Replace the state file atomically (the health command never reads half a file)."""
    target = path or HEALTH_FILE
    folder = os.path.dirname(os.path.abspath(target))
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".health-")
    with os.fdopen(descriptor, "w") as file:
        json.dump(asdict(state), file)
    os.replace(temporary, target)


def read(path: str | None = None) -> State | None:
    """The state file, or None when there is none (SageMaker mode). A file that is not the worker's JSON (an empty
    file touched by hand or by an older worker) counts as a poll at its modification time."""
    target = path or HEALTH_FILE
    try:
        with open(target) as file:
            text = file.read()
        modified = os.path.getmtime(target)
    except OSError:
        return None
    try:
        return State(**json.loads(text))
    except (ValueError, TypeError):
        return State(polled_at=modified, progress_at=None, stall_s=0.0)


def healthy(now: float | None = None) -> bool:
    """The verdict: the state file's when the SQS worker wrote one, else whether the SageMaker server answers /ping
    (which fails while a job is stalled)."""
    state = read()
    if state is not None:
        return state.healthy(time.time() if now is None else now)
    try:
        with urllib.request.urlopen("http://127.0.0.1:8080/ping", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(0 if healthy() else 1)
