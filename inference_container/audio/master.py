"""Peak normalisation (upstream's) and mastering: integrated loudness to a target with a true-peak ceiling.

Mastering measures loudness with pyloudnorm (ITU-R BS.1770-4), applies the gain, and keeps true peaks (4x
oversampled) under the ceiling with a look-ahead limiter, iterating until the loudness is on target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyloudnorm
from scipy.ndimage import maximum_filter1d, uniform_filter1d
from scipy.signal import resample_poly


@dataclass(frozen=True)
class MasterTarget:
    """Integrated loudness (LUFS) and true-peak ceiling (dBTP)."""

    lufs: float
    ceiling_dbtp: float


MASTER_TARGETS = {
    "subtle": MasterTarget(-16.0, -1.0),
    "balanced": MasterTarget(-14.0, -1.0),  # streaming platforms' reference
    "loud": MasterTarget(-11.0, -1.0),
    "broadcast": MasterTarget(-23.0, -1.0),  # EBU R128
}


def peak_normalize(audio: np.ndarray) -> np.ndarray:
    """Scale so the largest sample magnitude is 1, then clip to [-1, 1] (upstream's output step)."""
    peak = float(np.max(np.abs(audio)))
    return np.clip(audio / peak, -1.0, 1.0).astype(np.float32) if peak > 0 else audio.astype(np.float32)


def true_peak_dbtp(audio: np.ndarray) -> float:
    """True peak in dBTP: the largest magnitude of the 4x oversampled signal."""
    oversampled = resample_poly(audio, 4, 1, axis=0)
    peak = float(np.max(np.abs(oversampled)))
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def _limit(audio: np.ndarray, ceiling: float, rate: int) -> np.ndarray:
    """Look-ahead limiter: a smooth gain that keeps every (4x oversampled) peak under ``ceiling`` (linear)."""
    window = max(1, int(0.005 * rate))  # 5 ms look-ahead and release
    over = np.max(np.abs(resample_poly(audio, 4, 1, axis=0)), axis=1).reshape(-1, 4).max(axis=1)
    envelope = maximum_filter1d(over[: audio.shape[0]], size=2 * window + 1)
    required = np.minimum(1.0, ceiling / np.maximum(envelope, 1e-12))
    gain = np.minimum(uniform_filter1d(required, size=2 * window + 1), required)  # smooth, never above required
    return (audio * gain[:, None]).astype(np.float32)


def master(audio: np.ndarray, rate: int, preset: str = "balanced", tolerance_lu: float = 0.1) -> np.ndarray:
    """Bring ``audio`` [samples, channels] to the preset's integrated loudness under its true-peak ceiling.

    Example
    -------
    >>> tone = 0.1 * np.sin(np.linspace(0, 2000 * np.pi, 44100 * 5, dtype=np.float32))[:, None].repeat(2, 1)
    >>> round(float(pyloudnorm.Meter(44100).integrated_loudness(master(tone, 44100))), 1)
    -14.0
    """
    target = MASTER_TARGETS[preset]
    meter = pyloudnorm.Meter(rate)
    ceiling = 10 ** ((target.ceiling_dbtp - 0.1) / 20)  # a hair under, for the resampler's own error
    out = audio.astype(np.float32)
    for _ in range(8):
        loudness = meter.integrated_loudness(out)
        if not np.isfinite(loudness):
            return out  # silence: nothing to master (the checks reject it)
        if abs(loudness - target.lufs) <= tolerance_lu and true_peak_dbtp(out) <= target.ceiling_dbtp:
            return out
        out = (out * 10 ** ((target.lufs - loudness) / 20)).astype(np.float32)
        if true_peak_dbtp(out) > target.ceiling_dbtp - 0.1:
            out = _limit(out, ceiling, rate)
    return out
