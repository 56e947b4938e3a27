"""The image's health check: SageMaker mode answers /ping; the SQS worker touches a file at every poll."""

from __future__ import annotations

import os
import sys
import time
import urllib.request

HEALTH_FILE = os.environ.get("HEALTH_FILE", "/tmp/diffrhythm-worker.alive")
STALE_S = 120.0


def healthy() -> bool:
    """True when the worker polled within ``STALE_S`` seconds, or the SageMaker server answers /ping."""
    if os.path.exists(HEALTH_FILE):
        return time.time() - os.path.getmtime(HEALTH_FILE) < STALE_S
    try:
        with urllib.request.urlopen("http://127.0.0.1:8080/ping", timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(0 if healthy() else 1)
