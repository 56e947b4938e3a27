"""Audio -> file bytes with soundfile (libsndfile), in every ``shared.contract.OutputFormat``, optionally with
provenance tags (``inference_container.audio.provenance``)."""

from __future__ import annotations

import io

import numpy as np
import soundfile

from inference_container.audio.provenance import Provenance, tagged
from shared.formats import OutputFormat

#: libsndfile's container and sample encoding for each output format (its content type lives on the format)
_SOUNDFILE = {
    OutputFormat.WAV: ("WAV", "PCM_16"),
    OutputFormat.FLAC: ("FLAC", "PCM_16"),
    OutputFormat.MP3: ("MP3", "MPEG_LAYER_III"),
}


def encode(audio: np.ndarray, rate: int, fmt: OutputFormat | str, provenance: Provenance | None = None,
           exact: bool = False) -> bytes:
    """``audio`` [samples, channels] in [-1, 1] -> the bytes of a file in ``fmt``, tagged with ``provenance`` when
    given (title, "AI-generated with DiffRhythm", model, seed, job id; the audio data is the same either way).
    ``exact`` (WAV only): 32-bit float samples, neither rounded nor clipped (stems, whose sum must be the song).

    Example
    -------
    >>> encode(np.zeros((441, 2), dtype=np.float32), 44100, "wav")[:4]
    b'RIFF'
    """
    container, subtype = _SOUNDFILE[OutputFormat(fmt)]
    if exact and OutputFormat(fmt) is not OutputFormat.WAV:
        raise ValueError("exact samples need WAV")
    buffer = io.BytesIO()
    samples = audio if exact else np.clip(audio, -1.0, 1.0)
    soundfile.write(buffer, samples, rate, format=container, subtype="FLOAT" if exact else subtype)
    data = buffer.getvalue()
    return data if provenance is None else tagged(data, fmt, provenance)
