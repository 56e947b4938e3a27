"""Injected AWS faults: a share of the calls made through ``shared.aws`` clients fail as AWS fails under load.

Installed by the soak's processes only (the harness's own checks use clients of their own). Each fault is appended to
``SOAK_FAULT_LOG`` so the harness can count them.
"""

from __future__ import annotations

import os
import random
from functools import lru_cache
from typing import Any

from botocore.exceptions import ClientError

import shared.aws

#: the errors AWS answers under load, per service
_ERRORS = {"s3": ("SlowDown", 503), "sqs": ("ThrottlingException", 400),
           "dynamodb": ("ProvisionedThroughputExceededException", 400)}


def install(rate: float, seed: int, log_path: str | None = None) -> None:
    """From now on, each call of a new ``shared.aws`` client fails with probability ``rate``."""
    rng = random.Random(seed)
    original = shared.aws._client.__wrapped__  # the uncached builder; faulty clients are cached again below

    def inject(service: str, operation: str) -> None:
        if rng.random() >= rate:
            return
        code, status = _ERRORS[service]
        if log_path:
            with open(log_path, "a") as log:
                log.write(f"{os.getpid()} {service} {operation}\n")
        raise ClientError({"Error": {"Code": code, "Message": "injected by the soak test"},
                           "ResponseMetadata": {"HTTPStatusCode": status}}, operation)

    def faulty(service: Any, region: str, endpoint_url: str | None) -> Any:
        client = original(service, region, endpoint_url)

        def before_call(model: Any, **kwargs: Any) -> None:
            inject(service, model.name)

        client.meta.events.register("before-call", before_call)
        return client

    shared.aws._client = lru_cache(maxsize=16)(faulty)  # type: ignore[assignment]
