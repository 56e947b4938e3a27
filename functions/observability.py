"""Powertools around a Lambda entry point: structured logs with the Lambda context, X-Ray tracing and metrics.

The wrapping happens on the first invocation, so importing a function module does not import the X-Ray SDK
(about 0.17 s): the API app imports fast for tests and the local stack, and a cold start pays it once either way.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics

Handler = Callable[[Any, Any], Any]


def lambda_entry(handler: Handler, *, logger: Logger, service: str, metrics: Metrics | None = None,
                 correlation_id_path: str | None = None) -> Handler:
    """``handler`` wrapped by Powertools' logger, tracer (and metrics), built when first called."""

    @lru_cache(maxsize=1)
    def wrapped() -> Handler:
        from aws_lambda_powertools import Tracer

        inner = metrics.log_metrics(handler) if metrics is not None else handler
        inner = Tracer(service=service).capture_lambda_handler(inner)
        return logger.inject_lambda_context(inner, correlation_id_path=correlation_id_path)

    def entry(event: Any, context: Any) -> Any:
        return wrapped()(event, context)

    entry.__doc__ = handler.__doc__
    return entry
