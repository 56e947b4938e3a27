"""LRC lyrics -> the frame-aligned token sequence the DiT was trained with (upstream's placement, kept exactly).

Each line's phoneme tokens (G2P ids + 1; 0 is the filler) are written from its frame (``shared.timeline.frame_at``),
never before the end of the previous line; periods inside a line become commas and one period closes it. Lines at or
after the song's end are dropped, and the short model (the one without a duration embedding) also drops the last
remaining line (a quirk it was trained with).
Improvements over upstream that change no other line's tokens: an empty timed line is an instrumental gap (no
tokens) and a line whose text yields no phonemes is reported instead of crashing. Instrumental songs are all filler.
``LyricTokens.lines`` says where each sung line ended up (``PlacedLine``): the lyric timings returned with a song.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from shared.lrc import timed_lines
from shared.timeline import LATENT_RATE, frame_at, variant_for

FILLER, COMMA, PERIOD = 0, 1, 2


class PhonemeTokenizer(Protocol):
    """Text -> token ids already shifted for the model (G2P id + 1)."""

    def encode(self, text: str) -> list[int]: ...

    def note(self, text: str) -> str | None:
        """A warning for the song about how this line was read (e.g. a fallback), else None."""


@dataclass(frozen=True)
class PlacedLine:
    """A sung line where the model was given it: its text, first frame and the frame after its last token, in
    seconds (``frame / LATENT_RATE``; a line cut by the song's end ends there)."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class LyricTokens:
    """The model's lyric input for one song."""

    tokens: torch.Tensor  # [end_frame] int64
    start_time: float  # normalised (always 0: songs start at the beginning)
    duration: float  # end_frame / max_frames
    max_frames: int
    warnings: tuple[str, ...]
    lines: tuple[PlacedLine, ...] = ()  # the sung lines as placed, in order (none for an instrumental)

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


def lyric_tokens(lrc: str, audio_length: float, tokenizer: PhonemeTokenizer, instrumental: bool = False
                 ) -> LyricTokens:
    """Place the lyrics of a song of ``audio_length`` seconds, for the model that serves that length.

    ``instrumental``: no vocals, every frame is filler (``lrc`` is not sung; the API refuses lyrics with it).
    """
    variant = variant_for(audio_length)
    end_frame = variant.end_frame(audio_length)
    duration = end_frame / variant.max_frames
    sequence = torch.zeros(end_frame, dtype=torch.long)
    if instrumental:
        sung = sum(1 for line in timed_lines(lrc) if line.text)
        notes = (f"instrumental: the {sung} lyric line(s) were not sung",) if sung else ()
        return LyricTokens(sequence, 0.0, duration, variant.max_frames, notes)
    warnings: list[str] = []
    lines: list[tuple[float, str, list[int] | None]] = []  # None = instrumental gap
    for line in timed_lines(lrc):
        if not line.text:
            lines.append((line.time_s, "", None))
            continue
        tokens = tokenizer.encode(line.text)
        if (note := tokenizer.note(line.text)) is not None and note not in warnings:
            warnings.append(note)
        if not [t for t in tokens if t > 5]:  # punctuation only: nothing to sing
            warnings.append(f"line {line.number}: {line.text!r} has nothing to sing and was left out")
            continue
        lines.append((line.time_s, line.text, tokens))
    kept = [line for line in lines if line[0] < audio_length]
    if len(kept) < len(lines):
        warnings.append(f"{len(lines) - len(kept)} line(s) at or after {audio_length:g} s were dropped")
    if not variant.has_duration and kept:
        *kept, (_, last, dropped) = kept
        if dropped is not None:
            warnings.append(f"the {variant.max_seconds} s model does not sing the last line ({last!r}); an empty "
                            "timed line after it keeps it")
    placed_lines: list[PlacedLine] = []
    last_end = 0
    for time_s, text, phonemes in kept:
        if phonemes is None:
            continue
        placed = line_tokens(phonemes)
        start = max(frame_at(time_s), last_end)
        length = max(0, min(len(placed), end_frame - start))
        last_end = start + length
        if length == 0:  # pushed to (or timed in) the song's last frame
            warnings.append(f"{text!r} would start at the song's end and was left out")
            continue
        sequence[start:last_end] = torch.tensor(placed[:length], dtype=torch.long)
        placed_lines.append(PlacedLine(text, start / LATENT_RATE, last_end / LATENT_RATE))
    return LyricTokens(sequence, 0.0, duration, variant.max_frames, tuple(warnings), tuple(placed_lines))
