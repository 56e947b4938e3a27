"""The worker's logger, and ``best_effort`` for the calls whose failure is logged, never raised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger(service="worker")


def best_effort(what: str, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``action``; a failure is logged, not raised (what it guards is retried or covered another way)."""
    try:
        return action(*args, **kwargs)
    except Exception:
        logger.exception(f"{what} failed")
        return None
