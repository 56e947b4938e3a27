"""A finished song -> files: audio per variation and format, waveform peaks, and the generation metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass

from inference_container.audio import encode, waveform_peaks
from inference_container.diffrhythm.pipeline import Song


@dataclass(frozen=True)
class OutputFile:
    """One encoded file, ready to write to disk or S3."""

    name: str  # e.g. "0.wav", "1.peaks.json", "metadata.json"
    data: bytes
    content_type: str
    index: int | None = None
    format: str | None = None
    duration_s: float | None = None


def render(song: Song, formats: tuple[str, ...] = ("wav",)) -> list[OutputFile]:
    """Every file of ``song``: ``{i}.{format}`` and ``{i}.peaks.json`` per variation, then ``metadata.json``."""
    files = []
    for index, audio in enumerate(song.audio):
        duration = round(audio.shape[0] / song.rate, 3)
        for fmt in formats:
            data, content_type = encode(audio, song.rate, fmt)
            files.append(OutputFile(f"{index}.{fmt}", data, content_type, index, fmt, duration))
        peaks = json.dumps(waveform_peaks(audio, song.rate)).encode()
        files.append(OutputFile(f"{index}.peaks.json", peaks, "application/json", index))
    metadata = {**song.metadata, "warnings": song.warnings, "sample_rate": song.rate, "channels": 2,
                "variations": len(song.audio), "formats": list(formats)}
    files.append(OutputFile("metadata.json", json.dumps(metadata, indent=1).encode(), "application/json"))
    return files
