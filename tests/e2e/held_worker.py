"""``python -m tests.e2e.held_worker``: the real worker process (``python -m inference_container worker``) with one
change: sampling never ends by itself. It keeps reporting progress, so cancellation, SIGTERM and SIGKILL reach it
mid-job, and tests wait for the "sampling" stage as an event instead of racing a fast machine. With ``HELD_SILENTLY=1``
it reports nothing either, like a GPU call that never returns (the watchdog's case)."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from inference_container.cli import main
from inference_container.diffrhythm import sampling


def _held_euler(velocity: Any, y0: Any, steps: int, callback: Any = None, start: int = 0, **_: Any) -> Any:
    """``sampling.euler``'s stand-in: any of its arguments (start step, schedule, guidance flags) is taken."""
    while True:  # the worker's progress callback raises to leave (hand-back, cancel); SIGKILL ends it
        if callback is not None:
            callback(1, steps - 1)
        time.sleep(0.05)


def _hung_euler(velocity: Any, y0: Any, steps: int, callback: Any = None, start: int = 0, **_: Any) -> Any:
    while True:  # no progress at all: only SIGKILL ends it
        time.sleep(0.05)


if __name__ == "__main__":
    sampling.euler = _hung_euler if os.environ.get("HELD_SILENTLY") else _held_euler
    sys.exit(main(["worker"]))
