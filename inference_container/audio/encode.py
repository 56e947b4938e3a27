"""Audio -> file bytes with soundfile (libsndfile): WAV, FLAC and MP3."""

from __future__ import annotations

import io

import numpy as np
import soundfile

_FORMATS = {
    "wav": ("WAV", "PCM_16", "audio/wav"),
    "flac": ("FLAC", "PCM_16", "audio/flac"),
    "mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg"),
}


def formats() -> tuple[str, ...]:
    """The formats ``encode`` writes."""
    return tuple(_FORMATS)


def encode(audio: np.ndarray, rate: int, fmt: str) -> tuple[bytes, str]:
    """``audio`` [samples, channels] in [-1, 1] -> (file bytes, content type).

    Example
    -------
    >>> data, kind = encode(np.zeros((441, 2), dtype=np.float32), 44100, "wav")
    >>> kind, data[:4]
    ('audio/wav', b'RIFF')
    """
    container, subtype, content_type = _FORMATS[fmt]
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(audio, -1.0, 1.0), rate, format=container, subtype=subtype)
    return buffer.getvalue(), content_type
