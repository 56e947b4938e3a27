"""Wall-clock timing of CPU or GPU work: warm-up runs, then the median of timed runs, and peak GPU memory."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from inference_container.diffrhythm.device import synchronize


@dataclass(frozen=True)
class Timing:
    """Seconds per run (median and every timed run); on a GPU, memory allocated before the runs (resident weights and
    inputs) and the peak while they ran."""

    median_s: float
    runs_s: tuple[float, ...]
    base_bytes: int | None = None
    peak_bytes: int | None = None


def measure(fn: Callable[[], object], device: torch.device, *, warmup: int, reps: int) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``reps`` times timed, each timed run bracketed by a GPU synchronize."""
    if reps < 1:
        raise ValueError("reps must be at least 1")
    cuda = device.type == "cuda"
    synchronize(device)
    base = None
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        runs = []
        for _ in range(reps):
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            runs.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) if cuda else None
    return Timing(statistics.median(runs), tuple(runs), base, peak)
