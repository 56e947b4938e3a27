"""The worker's CloudWatch metrics, as embedded metrics in its log."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

metrics = Metrics(namespace="DiffRhythm", service="worker")


def record_job(metadata: dict[str, Any], songs: int) -> None:
    """A delivered job's latency and GPU seconds per song (and peak GPU memory, where measured), from its
    manifest's ``metadata``."""
    timings = metadata.get("timings", {})
    gpu_seconds = float(timings.get("sampling_s", 0)) + float(timings.get("decoding_s", 0))
    metrics.add_metric(name="JobSeconds", unit=MetricUnit.Seconds, value=float(metadata.get("job_seconds", 0)))
    metrics.add_metric(name="GpuSecondsPerSong", unit=MetricUnit.Seconds, value=gpu_seconds / max(songs, 1))
    if "peak_gpu_gib" in metadata:
        metrics.add_metric(name="PeakGpuMemory", unit=MetricUnit.Gigabytes, value=float(metadata["peak_gpu_gib"]))
    metrics.flush_metrics()
