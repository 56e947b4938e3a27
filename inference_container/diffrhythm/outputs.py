"""A finished song -> files: audio per variation and format (tagged with its provenance), stems, waveform peaks, the
lyrics as placed (LRC and JSON), and the generation metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np

from inference_container.audio import Provenance, encode, waveform_peaks
from inference_container.audio.credentials import ContentSigner, Origin, Source
from inference_container.diffrhythm.songs import Song
from shared.formats import FileFormat, OutputFormat, OutputKind
from shared.lrc import LyricLine, ParsedLyrics

JSON = "application/json"


@dataclass(frozen=True)
class RenderedFile:
    """One encoded file, ready to write to disk or S3 (audio files carry their format, variation and length; the
    files a job lists as outputs carry their ``kind``)."""

    name: str  # e.g. "0.wav", "0.vocals.wav", "1.peaks.json", "lyrics.lrc", "metadata.json"
    data: bytes
    content_type: str
    index: int | None = None
    format: FileFormat | None = None
    duration_s: float | None = None
    kind: OutputKind | None = None
    score: float | None = None
    lyrics_accuracy: float | None = None


def render(song: Song, formats: tuple[OutputFormat, ...] = (OutputFormat.WAV,),
           provenance: Provenance | None = None, signer: ContentSigner | None = None,
           source: Source | None = None) -> list[RenderedFile]:
    """Every file of ``song``: per variation ``{i}.{format}`` (its score beside it), ``{i}.vocals.wav`` and
    ``{i}.accompaniment.wav`` when it has stems (32-bit float: they add up to the song), and ``{i}.peaks.json``;
    then ``lyrics.lrc`` and ``lyrics.json`` (the lines as placed: empty for an instrumental) and ``metadata.json``.
    With ``provenance``, every audio file is tagged with it, each variation with its own seed; with ``signer`` too,
    every audio file then carries a signed C2PA manifest (``source``: the song it was made from)."""
    files = []
    seeds = song.metadata.get("seeds")

    def encoded(audio: np.ndarray, fmt: OutputFormat, tags: Provenance | None, exact: bool = False) -> bytes:
        data = encode(audio, song.rate, fmt, tags, exact=exact)
        if signer is None or tags is None:
            return data
        origin = Origin(tags.job_id, tags.model, tags.tags()["title"], dict(song.metadata.get("licences", {})),
                        source)
        return signer.sign(data, fmt, origin)

    for index, audio in enumerate(song.audio):
        duration = round(audio.shape[0] / song.rate, 3)
        tags = provenance
        if tags is not None and isinstance(seeds, list) and index < len(seeds):
            tags = replace(tags, seed=int(seeds[index]))
        score = song.scores[index] if index < len(song.scores) else None
        accuracy = song.lyrics_accuracy[index]
        for fmt in formats:
            files.append(RenderedFile(f"{index}.{fmt.value}", encoded(audio, fmt, tags), fmt.content_type,
                                      index, FileFormat(fmt), duration, OutputKind.SONG, score,
                                      None if accuracy is None else round(accuracy, 4)))
        if index < len(song.stems):
            for kind, stem in zip((OutputKind.VOCALS, OutputKind.ACCOMPANIMENT), song.stems[index], strict=True):
                stem_file = encoded(stem, OutputFormat.WAV, tags, exact=True)
                files.append(RenderedFile(f"{index}.{kind.value}.wav", stem_file, FileFormat.WAV.content_type, index,
                                          FileFormat.WAV, duration, kind))
        peaks = json.dumps(waveform_peaks(audio, song.rate)).encode()
        files.append(RenderedFile(f"{index}.peaks.json", peaks, JSON, index, FileFormat.JSON, kind=OutputKind.PEAKS))
    files += lyric_files(song)
    metadata = {**song.metadata, "warnings": song.warnings, "sample_rate": song.rate, "channels": 2,
                "variations": len(song.audio), "formats": [fmt.value for fmt in formats]}
    files.append(RenderedFile("metadata.json", json.dumps(metadata, indent=1).encode(), JSON))
    return files


def lyric_files(song: Song) -> list[RenderedFile]:
    """``lyrics.lrc`` and ``lyrics.json``: each line's text, start and end (seconds) as the model placed it; the JSON
    also carries ``checks``, each checked variation's lyric check (its ``index``, ``lyrics_accuracy``, the
    ``transcriber`` and per line what was expected and heard, its score and whether it is flagged)."""
    lines = [{"text": line.text, "start_s": round(line.start_s, 3), "end_s": round(line.end_s, 3)}
             for line in song.lyrics]
    transcriber = song.metadata.get("lyric_check")
    checks = [{"index": index, **report.to_json(), "transcriber": transcriber}
              for index, report in enumerate(song.checks) if report is not None]
    lrc = ParsedLyrics(tuple(LyricLine(i + 1, line.start_s, line.text) for i, line in enumerate(song.lyrics)),
                       timed=True).to_lrc()
    return [
        RenderedFile("lyrics.lrc", (lrc + "\n").encode() if lrc else b"", FileFormat.LRC.content_type, 0,
                     FileFormat.LRC, kind=OutputKind.LYRICS),
        RenderedFile("lyrics.json", json.dumps({"lines": lines, "checks": checks}, ensure_ascii=False,
                                               indent=1).encode(), JSON, 0, FileFormat.JSON, kind=OutputKind.LYRICS),
    ]
