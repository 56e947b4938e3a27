"""LRC lyrics -> the frame-aligned token sequence the DiT was trained with (upstream's placement, kept exactly).

Each line's phoneme tokens (G2P ids + 1; 0 is the filler) are written from its frame (``shared.timeline.frame_at``),
never before the end of the previous line; periods inside a line become commas and one period closes it. Lines at or
after the song's end are dropped, and the short model (the one without a duration embedding) also drops the last
remaining line (a quirk it was trained with).
Improvements over upstream that change no other line's tokens: an empty timed line is an instrumental gap (no
tokens) and a line whose text yields no phonemes is reported instead of crashing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from shared.lrc import timed_lines
from shared.timeline import frame_at, variant_for

FILLER, COMMA, PERIOD = 0, 1, 2


class PhonemeTokenizer(Protocol):
    """Text -> token ids already shifted for the model (G2P id + 1)."""

    def encode(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class LyricTokens:
    """The model's lyric input for one song."""

    tokens: torch.Tensor  # [end_frame] int64
    start_time: float  # normalised (always 0: songs start at the beginning)
    duration: float  # end_frame / max_frames
    max_frames: int
    warnings: tuple[str, ...]

    @property
    def end_frame(self) -> int:
        return int(self.tokens.shape[0])


def line_tokens(tokens: list[int]) -> list[int]:
    """One line's tokens as placed: every period becomes a comma, and a period closes the line.

    Example
    -------
    >>> line_tokens([7, 2, 9])
    [7, 1, 9, 2]
    """
    return [COMMA if token == PERIOD else token for token in tokens] + [PERIOD]


def lyric_tokens(lrc: str, audio_length: float, tokenizer: PhonemeTokenizer) -> LyricTokens:
    """Place the lyrics of a song of ``audio_length`` seconds, for the model that serves that length."""
    variant = variant_for(audio_length)
    end_frame = variant.end_frame(audio_length)
    warnings: list[str] = []
    lines: list[tuple[float, list[int] | None]] = []  # None = instrumental gap
    for line in timed_lines(lrc):
        if not line.text:
            lines.append((line.time_s, None))
            continue
        tokens = tokenizer.encode(line.text)
        if not [t for t in tokens if t > 5]:  # punctuation only: nothing to sing
            warnings.append(f"line {line.number}: {line.text!r} has nothing to sing and was left out")
            continue
        lines.append((line.time_s, tokens))
    kept = [(t, tokens) for t, tokens in lines if t < audio_length]
    if len(kept) < len(lines):
        warnings.append(f"{len(lines) - len(kept)} line(s) at or after {audio_length:g} s were dropped")
    if not variant.has_duration and kept:
        kept = kept[:-1]
    sequence = torch.zeros(end_frame, dtype=torch.long)
    last_end = 0
    for time_s, tokens in kept:
        if tokens is None:
            continue
        placed = line_tokens(tokens)
        start = max(frame_at(time_s), last_end)
        length = max(0, min(len(placed), end_frame - start))
        sequence[start:start + length] = torch.tensor(placed[:length], dtype=torch.long)
        last_end = start + length
    return LyricTokens(sequence, 0.0, end_frame / variant.max_frames, variant.max_frames, tuple(warnings))
