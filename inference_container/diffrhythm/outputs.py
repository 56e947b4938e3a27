"""A finished song -> files: audio per variation and format, waveform peaks, and the generation metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass

from inference_container.audio import encode, waveform_peaks
from inference_container.diffrhythm.pipeline import Song
from shared.contract import OutputFormat

JSON = "application/json"


@dataclass(frozen=True)
class RenderedFile:
    """One encoded file, ready to write to disk or S3 (audio files carry their format, variation and length)."""

    name: str  # e.g. "0.wav", "1.peaks.json", "metadata.json"
    data: bytes
    content_type: str
    index: int | None = None
    format: OutputFormat | None = None
    duration_s: float | None = None


def render(song: Song, formats: tuple[OutputFormat, ...] = (OutputFormat.WAV,)) -> list[RenderedFile]:
    """Every file of ``song``: ``{i}.{format}`` and ``{i}.peaks.json`` per variation, then ``metadata.json``."""
    files = []
    for index, audio in enumerate(song.audio):
        duration = round(audio.shape[0] / song.rate, 3)
        for fmt in formats:
            files.append(RenderedFile(f"{index}.{fmt.value}", encode(audio, song.rate, fmt), fmt.content_type, index,
                                      fmt, duration))
        peaks = json.dumps(waveform_peaks(audio, song.rate)).encode()
        files.append(RenderedFile(f"{index}.peaks.json", peaks, JSON, index))
    metadata = {**song.metadata, "warnings": song.warnings, "sample_rate": song.rate, "channels": 2,
                "variations": len(song.audio), "formats": [fmt.value for fmt in formats]}
    files.append(RenderedFile("metadata.json", json.dumps(metadata, indent=1).encode(), JSON))
    return files
