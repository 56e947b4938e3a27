"""A small waveform summary for a UI: min/max per bucket of the mono mix."""

from __future__ import annotations

import itertools

import numpy as np


def waveform_peaks(audio: np.ndarray, rate: int, buckets: int = 800) -> dict[str, object]:
    """``{"sample_rate", "duration_s", "buckets", "min": [...], "max": [...]}`` with values rounded to 4 digits.

    Example
    -------
    >>> waveform_peaks(np.ones((100, 2), dtype=np.float32), 100, buckets=2)["max"]
    [1.0, 1.0]
    """
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    count = max(1, min(buckets, mono.shape[0]))
    edges = np.linspace(0, mono.shape[0], count + 1).astype(int)
    chunks = [mono[a:b] for a, b in itertools.pairwise(edges)]
    return {
        "sample_rate": rate, "duration_s": round(mono.shape[0] / rate, 3), "buckets": count,
        "min": [round(float(c.min()), 4) for c in chunks], "max": [round(float(c.max()), 4) for c in chunks],
    }
