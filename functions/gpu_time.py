"""GPU seconds: what a job that ran used, added to its account's daily quota once, by the write that ended it."""

from __future__ import annotations

import math

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from functions.usage_metrics import account_metric
from shared.accounts import Meter
from shared.ports import Usage
from shared.records import JobRecord

logger = Logger(service="usage")


def gpu_seconds(job: JobRecord) -> int:
    """Whole seconds ``job`` held a GPU, rounded up: from its (last) start to its end; 0 if it never started."""
    if job.started_at is None or job.completed_at is None:
        return 0
    return max(0, math.ceil((job.completed_at - job.started_at).total_seconds()))


def charge_gpu_time(store: Usage, job: JobRecord) -> int:
    """Add ``job``'s GPU seconds to its account, in the UTC day it ended; returns the seconds added.

    Call it only with the job a conditional transition of the caller's own just made final: a repeated event finds
    the job final already, changes nothing and so adds nothing. Jobs without an account (from before accounts) are
    not charged. Best effort: a failed write is logged, and the job's final state stands.
    """
    seconds = gpu_seconds(job)
    if job.account is None or not seconds or job.completed_at is None:
        return 0
    try:
        store.add_usage(job.account, Meter.GPU_SECONDS_PER_DAY, seconds, job.completed_at)
    except (BotoCoreError, ClientError):
        logger.exception("GPU seconds not added to the account's usage", extra={"job_id": job.job_id,
                                                                                "seconds": seconds})
        return 0
    account_metric("GpuSeconds", seconds, service="usage", quota=Meter.GPU_SECONDS_PER_DAY.value,
                   account=job.account, unit=MetricUnit.Seconds, owner=job.owner)
    return seconds
