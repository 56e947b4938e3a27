"""The scorer's two inputs: the sheet (the lines as the model was given them, each with its time window) and what was
heard (a transcript's words or chunks, with times where the transcriber gave them).

A sheet line's window runs from its start to the next line's start (the song's end for the last line); an empty
LRC line (an instrumental gap) ends the line before it and is not a sheet line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Placed(Protocol):
    """A line as the model placed it (``inference_container.diffrhythm.lyrics.PlacedLine`` is one)."""

    @property
    def text(self) -> str: ...

    @property
    def start_s(self) -> float: ...


class Timed(Protocol):
    """A line as LRC timed it (``shared.lrc.LyricLine`` is one)."""

    @property
    def text(self) -> str: ...

    @property
    def time_s(self) -> float: ...


@dataclass(frozen=True)
class SheetLine:
    """One line the model was given: its text and time window [``start_s``, ``end_s``) in seconds."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class HeardWord:
    """A word or chunk of the transcript, with its start and end in seconds where known."""

    text: str
    start_s: float | None = None
    end_s: float | None = None


def _windows(starts: Sequence[tuple[float, str]], song_end_s: float) -> list[SheetLine]:
    """Lines (``(start, text)``, in time order; empty text: a gap) -> sheet lines ending where the next one starts."""
    kept = [(start, text) for start, text in starts if start < song_end_s]
    lines = []
    for index, (start, text) in enumerate(kept):
        if text.strip():
            end = kept[index + 1][0] if index + 1 < len(kept) else song_end_s
            lines.append(SheetLine(text, start, max(start, end)))
    return lines


def sheet_from_placed(lines: Iterable[Placed], song_end_s: float) -> list[SheetLine]:
    """The sheet of a generated song: its placed lines (``LyricTokens.lines`` or ``Song.lyrics``).

    Example
    -------
    >>> sheet_from_placed([SheetLine("a", 0.0, 1.0), SheetLine("b", 4.0, 5.0)], 10.0)
    [SheetLine(text='a', start_s=0.0, end_s=4.0), SheetLine(text='b', start_s=4.0, end_s=10.0)]
    """
    return _windows([(line.start_s, line.text) for line in lines], song_end_s)


def sheet_from_lrc(lines: Iterable[Timed], song_end_s: float) -> list[SheetLine]:
    """The sheet from LRC lines (``shared.lrc.timed_lines``): lines at or after the song's end are not sung.

    Example
    -------
    >>> from shared.lrc import timed_lines
    >>> sheet_from_lrc(timed_lines("[00:01.00]a\\n[00:03.00]\\n[00:05.00]b\\n[00:20.00]c"), 12.0)
    [SheetLine(text='a', start_s=1.0, end_s=3.0), SheetLine(text='b', start_s=5.0, end_s=12.0)]
    """
    return _windows(sorted(((line.time_s, line.text) for line in lines), key=lambda pair: pair[0]), song_end_s)


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def _chunk(chunk: Any) -> HeardWord:
    if isinstance(chunk, HeardWord):
        return chunk
    if isinstance(chunk, str):
        return HeardWord(chunk)
    if isinstance(chunk, Mapping):
        if "timestamp" in chunk:  # transformers' pipeline
            start, end = chunk["timestamp"] or (None, None)
        else:  # openai-whisper's and faster-whisper's words
            start, end = chunk.get("start"), chunk.get("end")
        return HeardWord(str(chunk.get("text", chunk.get("word", ""))), _seconds(start), _seconds(end))
    text, (start, end) = chunk
    return HeardWord(str(text), _seconds(start), _seconds(end))


def heard_words(transcript: Any) -> list[HeardWord]:
    """What a Whisper transcriber returned, as heard words. Accepted shapes:

    * transformers' ASR pipeline with ``return_timestamps="word"`` or ``True``: ``{"text": ..., "chunks": [{"text":
      " Hello", "timestamp": (0.0, 0.4)}, ...]}`` (an end may be ``None``); without chunks, its ``text`` alone;
    * openai-whisper's ``transcribe``: ``{"segments": [{"text", "start", "end", "words": [{"word", "start",
      "end"}]}]}`` (the words where given, else the segments);
    * a list of such chunks, of ``(text, (start, end))`` pairs, of ``HeardWord`` or of strings; a string.

    Example
    -------
    >>> heard_words({"text": " Hi you", "chunks": [{"text": " Hi", "timestamp": (0.0, 0.5)},
    ...                                             {"text": " you", "timestamp": (0.5, None)}]})
    [HeardWord(text=' Hi', start_s=0.0, end_s=0.5), HeardWord(text=' you', start_s=0.5, end_s=None)]
    >>> heard_words([("la", (1, 2))]), heard_words("la la")
    ([HeardWord(text='la', start_s=1.0, end_s=2.0)], [HeardWord(text='la la', start_s=None, end_s=None)])
    """
    if isinstance(transcript, str):
        return [HeardWord(transcript)]
    if isinstance(transcript, Mapping):
        if transcript.get("chunks"):
            return [_chunk(chunk) for chunk in transcript["chunks"]]
        if transcript.get("segments"):
            segments = transcript["segments"]
            return [_chunk(word) for segment in segments for word in segment.get("words") or [segment]]
        return [HeardWord(str(transcript.get("text", "")))]
    return [_chunk(chunk) for chunk in transcript]
