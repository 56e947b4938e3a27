"""Remix (cover) of a song (addition): ``RemixRequest``, the ``remix`` field of ``POST /api/v1/generate``, and
``remix_lyrics``, which sings untimed new lyrics on the source song's line times.

A remix encodes the source song to its latent, noises it to the flow time ``t0 = 1 - strength`` and samples from
there with the new style and lyrics: strength 1 is a new song (the plain request's for the same seed), a small one
keeps the source nearly unchanged.
"""

from __future__ import annotations

import math
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.lrc import LyricLine, LyricsError, ParsedLyrics, estimate_tokens, read_lines, timed_lines
from shared.lyrics import BEATS_PER_BAR, DEFAULT_BPM, SYLLABLES_PER_BAR, estimate_syllables, parse_lrc
from shared.presets import MAX_VARIATIONS
from shared.timeline import LATENT_RATE


class RemixRequest(BaseModel):
    """Remix (addition): a new song made from a song: one of the caller's finished jobs (``job_id``, variation
    ``index``) or an upload (``reference_audio_key``), regenerated with the request's style and lyrics at
    ``strength``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"job_id": "3f2c6a1e-0a4b-4c1e-9d2a-5b8e7f6a1c2d", "index": 0, "strength": 0.6}]})

    job_id: str | None = Field(None, max_length=64, description="One of your finished jobs to remix (or give "
                               "reference_audio_key)", examples=["3f2c6a1e-0a4b-4c1e-9d2a-5b8e7f6a1c2d"])
    index: int = Field(0, ge=0, le=MAX_VARIATIONS - 1, description="With job_id: which variation")
    reference_audio_key: str | None = Field(None, max_length=512, description="Key returned by POST /api/v1/uploads "
                                            "for the song to remix (or give job_id)")
    strength: float = Field(gt=0.0, le=1.0, description="How much changes: 1 makes a new song, near 0 keeps the "
                            "source nearly unchanged (0, a copy, is refused)", examples=[0.6])

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.reference_audio_key is None) == (self.job_id is None):
            raise ValueError("remix: give exactly one of job_id (a finished job) or reference_audio_key (an upload)")
        return self


def remix_lyrics(source_lrc: str, lyrics: str, audio_length: float,
                 bpm: float | None = None) -> tuple[str | None, list[str]]:
    """The LRC a remix of a song sung from ``source_lrc`` sings new untimed ``lyrics`` from, and warnings: each new
    sung line takes the time of the source's sung line of the same rank (the source's empty lines, the ends of its
    singing, stay where they were; where none follows the last sung line, one is added where the tempo ends that
    line, as timing at the tempo does: the 95 s model does not sing a last line without one). ``None`` (time them as
    usual) when the lyrics are timed, when the numbers of sung lines differ (with a warning), or when the source's
    times do not fit the new song or lines (with the reason).

    Example
    -------
    >>> print(remix_lyrics("[00:02.00]one\\n[00:09.00]two\\n[00:20.00]", "uno\\ndos", 95)[0])
    [00:02.00]uno
    [00:09.00]dos
    [00:20.00]
    """
    if parse_lrc(lyrics, audio_length, bpm=bpm).timed:
        return None, []
    new = [text for section in read_lines(lyrics)[1] for _, text in section.lines if text.strip()]
    source = [line for line in timed_lines(source_lrc) if line.text or line.time_s < audio_length]
    sung = [line for line in source if line.text]
    if len(new) != len(sung):
        return None, [f"the new lyrics have {len(new)} sung lines and the source song {len(sung)}: they were timed "
                      "at the tempo instead of on the source's times"]
    texts = iter(new)
    lines = [LyricLine(line.number, line.time_s, next(texts) if line.text else "", line.section) for line in source]
    lrc = ParsedLyrics(tuple(_closed(lines, audio_length, bpm)), timed=True).to_lrc()
    try:
        parse_lrc(lrc, audio_length)
    except LyricsError as error:
        return None, [f"the new lyrics do not fit the source song's times ({error.issues[0]}): they were timed at "
                      "the tempo instead"]
    return lrc, [f"the new lyrics had no timestamps: their {len(new)} lines take the times of the source song's lines"]



def _closed(lines: list[LyricLine], audio_length: float, bpm: float | None) -> list[LyricLine]:
    """``lines`` ending with an empty line: after a last sung line, one where the tempo's bars end it (as
    ``shared.lyrics.parse_lrc`` places them), where that lies inside the song."""
    if not lines or not lines[-1].text:
        return lines
    last = lines[-1]
    bar_s = BEATS_PER_BAR * 60.0 / (bpm or DEFAULT_BPM)
    length = max((estimate_tokens(last.text) + 1) / LATENT_RATE,
                 max(1, math.ceil(estimate_syllables(last.text) / SYLLABLES_PER_BAR)) * bar_s)
    end = math.ceil(round((last.time_s + length) * 100, 6)) / 100
    return [*lines, LyricLine(last.number, end, "", "")] if end < audio_length - 0.02 else lines
