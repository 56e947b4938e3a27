"""Refuse audio that must not reach a user: non-finite samples or (near) silence."""

from __future__ import annotations

import numpy as np

from inference_container.errors import InputError

SILENCE_DBFS = -60.0


class AudioQualityError(InputError):
    """Generated audio is unusable; ``reason`` says why, in words for the job's failure record."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_audio(audio: np.ndarray, silence_dbfs: float = SILENCE_DBFS) -> None:
    """Raise ``AudioQualityError`` for NaN/inf samples, an empty signal, or an RMS below ``silence_dbfs``.

    Example
    -------
    >>> check_audio(np.zeros((44100, 2), dtype=np.float32))
    Traceback (most recent call last):
    ...
    inference_container.audio.checks.AudioQualityError: the generated audio is silent (RMS -inf dBFS, below -60 dBFS)
    """
    if audio.size == 0:
        raise AudioQualityError("the generated audio is empty")
    bad = int(np.count_nonzero(~np.isfinite(audio)))
    if bad:
        raise AudioQualityError(f"the generated audio has {bad} NaN or infinite samples (numerical failure)")
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    level = 20 * np.log10(rms) if rms > 0 else float("-inf")
    if level < silence_dbfs:
        raise AudioQualityError(f"the generated audio is silent (RMS {level:.0f} dBFS, below {silence_dbfs:.0f} dBFS)")
