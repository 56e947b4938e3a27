"""The HTTP contract: request bodies (``*Request``), their limits and defaults, and the vocabulary every side uses
(failure codes, quota meters); the response bodies are in ``shared.responses``, the file formats in
``shared.formats``.

Field names, defaults and status strings follow the existing frontend's contract; fields marked "addition" are new.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from enum import StrEnum
from typing import Literal, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.formats import OutputFormat, UploadContentType
from shared.lrc import CJK, LyricsError, LyricsIssue, ParsedLyrics, has_words
from shared.lyrics import DEFAULT_BPM, parse_lrc
from shared.presets import LYRIC_REGENERATIONS, PRESETS, MasterPreset, Preset, SamplingSettings
from shared.presets import MAX_VARIATIONS as MAX_VARIATIONS  # re-exported: the contract's limit
from shared.remix import RemixRequest
from shared.timeline import MAX_SECONDS, MIN_SECONDS, SHORT

MAX_SEED = 2**32 - 1
#: the text's share of a style mixed from ``style_prompt`` and ``reference_audio_key`` unless ``style_weight`` says
DEFAULT_STYLE_WEIGHT = 0.5
MIN_STEPS, MAX_STEPS = 2, 100  # Euler needs both ends of its grid; the longest preset (ultra) takes 100
#: the existing frontend's example request (the seed report, Phase 4): the schema's example and the demo's first song
FRONTEND_EXAMPLE: dict[str, JsonValue] = {
    "lyrics": "[00:00.00]Line 1\n[00:05.00]Line 2", "style_prompt": "pop, upbeat, energetic",
    "audio_length": MIN_SECONDS, "batch_size": 1, "preset": "high", "auto_master": False,
}


FailureCode = Literal["invalid_input", "generation_failed", "timed_out", "dead_letter", "enqueue_failed",
                      "output_incomplete", "internal", "lyrics_below_minimum"]
"""Why a job failed: the one list of error codes a user can see (``error_code``; docs/api.md says what each means)."""

MIN_STYLE_WEIGHT = 3  # what a style prompt must weigh (``meaning_weight``): "pop" or "流行"


def draw_seed() -> int:
    """A seed for a request that gives none (reported back, so the song can be made again)."""
    return secrets.randbelow(MAX_SEED + 1)


def meaning_weight(text: str) -> int:
    """How long a text is for what it says: its characters, a Chinese, Japanese or Korean one counting twice (each is
    a syllable that carries meaning, as two or three Latin letters do). Every text of 3 characters weighs at least 3.

    Example
    -------
    >>> meaning_weight("pop"), meaning_weight("R&B"), meaning_weight("流行"), meaning_weight("流")
    (3, 3, 4, 2)
    """
    return len(text) + len(CJK.findall(text))


#: what one rate-limit unit buys: the default job (``MIN_SECONDS``, the default preset's steps, one variation)
_UNIT_WORK = MIN_SECONDS * PRESETS[Preset.HIGH].steps * 1


class EditRequest(BaseModel):
    """Edit mode (addition): regenerate ``segments`` of a song, keep the rest. The song is an upload
    (``reference_audio_key``) or one of the caller's finished jobs (``job_id``, variation ``index``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"job_id": "3f2c6a1e-0a4b-4c1e-9d2a-5b8e7f6a1c2d", "index": 0, "segments": [[30, 45]]}]})

    reference_audio_key: str | None = Field(None, description="Key returned by POST /api/v1/uploads for the song to "
                                            "edit (or give job_id)")
    job_id: str | None = Field(None, max_length=64, description="Addition: repaint one of your finished songs "
                               "instead of an upload", examples=["3f2c6a1e-0a4b-4c1e-9d2a-5b8e7f6a1c2d"])
    index: int = Field(0, ge=0, le=MAX_VARIATIONS - 1, description="With job_id: which variation")
    segments: list[tuple[float, float]] = Field(
        min_length=1, max_length=16,
        description="[[start, end], ...] in seconds to regenerate; -1 is the song's start (as start) or end (as end)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.reference_audio_key is None) == (self.job_id is None):
            raise ValueError("edit: give exactly one of reference_audio_key (an upload) or job_id (a finished job)")
        return self


class ExtendRequest(BaseModel):
    """Extend (addition): continue one of the caller's finished songs; the new request's ``audio_length`` is the
    extended song's length and its lyrics the new part's (lines before ``from_s`` come from the finished song)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"job_id": "3f2c6a1e-0a4b-4c1e-9d2a-5b8e7f6a1c2d", "index": 0, "from_s": 80}]})

    job_id: str = Field(max_length=64, description="The finished job to continue")
    index: int = Field(0, ge=0, le=MAX_VARIATIONS - 1, description="Which of its variations")
    from_s: float | None = Field(None, gt=0, le=MAX_SECONDS, description="Keep the song up to here and generate "
                                 "from here on (default: its end)")


class GenerateRequest(BaseModel):
    """Body of ``POST /api/v1/generate``."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [FRONTEND_EXAMPLE]},
    )

    lyrics: str | None = Field(
        None, min_length=10, max_length=20_000, description="LRC text ([mm:ss.xx]line), plain lines, or lines under "
        "section tags ([verse], [chorus], ...; timed from the bpm); required unless instrumental")
    style_prompt: str | None = Field(None, max_length=1_000, description="Text describing the style: at least 3 "
                                     "characters, or 2 Chinese, Japanese or Korean characters")
    reference_audio_key: str | None = Field(
        None, max_length=512, description="Addition: an uploaded clip (>= 10 s) whose style to follow; with "
        "style_prompt too, the two are mixed (style_weight)")
    audio_length: int = Field(MIN_SECONDS, ge=MIN_SECONDS, le=MAX_SECONDS,
                              description=f"Seconds; {SHORT.max_seconds + 1}..{MAX_SECONDS} use the full model")
    batch_size: int = Field(1, ge=1, le=4, description="Number of variations")
    steps: int | None = Field(None, ge=MIN_STEPS, le=MAX_STEPS, description="Overrides the preset's sampling steps")
    cfg_strength: float | None = Field(None, ge=0.0, le=20.0, description="Overrides the preset's guidance strength")
    preset: Preset = Preset.HIGH
    auto_master: bool = True
    master_preset: MasterPreset = MasterPreset.BALANCED
    payment_intent_id: str | None = Field(None, max_length=255)
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Addition: random seed; drawn and reported if unset")
    output_format: OutputFormat = Field(OutputFormat.WAV, description="Addition: produced besides WAV")
    edit: EditRequest | None = Field(None, description="Addition: edit an existing song")
    webhook_url: AnyHttpUrl | None = Field(None, description="Addition: receives a signed POST on the final state")
    instrumental: bool = Field(False, description="Addition: a song without vocals; give no lyrics (or lyrics "
                               "without sung lines)", examples=[True])
    bpm: int | None = Field(None, ge=40, le=240, description="Addition: the tempo that times untimed or "
                            f"section-tagged lyrics (default {DEFAULT_BPM:g})", examples=[120])
    title: str | None = Field(None, max_length=200, description="Addition: the title written into the files' tags",
                              examples=["Summer Nights"])
    negative_style_prompt: str | None = Field(
        None, max_length=1_000, description="Addition: a style to steer away from, instead of the "
        "model's built-in negative style", examples=["lo-fi, muffled, out of tune"])
    style_weight: float | None = Field(
        None, ge=0.0, le=1.0, description="Addition: with both style_prompt and reference_audio_key, the text's share "
        f"of the mixed style (default {DEFAULT_STYLE_WEIGHT})", examples=[0.7])
    best_of: int | None = Field(None, ge=2, le=MAX_VARIATIONS, description="Addition: generate this many variations "
                                "and return them all ranked best first: by half the style score and half the lyric "
                                "check's accuracy (the style score alone for an instrumental)",
                                examples=[4])
    stems: bool = Field(False, description="Addition: also produce vocals and accompaniment files per variation",
                        examples=[True])
    extend: ExtendRequest | None = Field(None, description="Addition: continue one of your finished songs")
    remix: RemixRequest | None = Field(None, description="Addition: a cover of a song (one of your finished songs "
                                       "or an upload) with this request's style and lyrics")
    min_lyrics_accuracy: float | None = Field(
        None, gt=0.0, le=1.0, description="Addition: regenerate with new seeds (at most "
        f"{LYRIC_REGENERATIONS} times, each charged like the job) until a variation's lyric check reaches this; "
        "else the job fails naming the best score", examples=[0.8])

    @model_validator(mode="after")
    def _one_style(self) -> Self:
        if self.style_prompt is None and self.reference_audio_key is None:
            raise ValueError("give style_prompt (text, at least 3 characters), reference_audio_key, or both")
        if self.style_weight is not None and (self.style_prompt is None or self.reference_audio_key is None):
            raise ValueError("style_weight mixes style_prompt and reference_audio_key: give both, or leave it out")
        if self.lyrics is None and not self.instrumental:
            raise ValueError("lyrics: required (at least 10 characters) unless instrumental is true")
        if self.best_of is not None and self.batch_size != 1:
            raise ValueError("best_of generates its own variations: leave batch_size at 1")
        if self.edit is not None and self.extend is not None:
            raise ValueError("give edit or extend, not both")
        if self.extend is not None and self.extend.from_s is not None and self.extend.from_s >= self.audio_length:
            raise ValueError(f"extend.from_s ({self.extend.from_s:g}) must be before the extended song's end "
                             f"(audio_length {self.audio_length})")
        if self.edit is not None:
            for start, end in self.edit.segments:
                lo = 0.0 if start == -1 else start
                hi = float(self.audio_length) if end == -1 else end
                if not 0 <= lo < hi <= self.audio_length:
                    raise ValueError(f"edit.segments: [{start:g}, {end:g}] must satisfy 0 <= start < end <= "
                                     f"audio_length ({self.audio_length}), with -1 for the song's start or end")
        return self

    @field_validator("remix")
    @classmethod
    def _remix_alone(cls, value: RemixRequest | None, info: ValidationInfo) -> RemixRequest | None:
        """A remix regenerates a whole song: it cannot also keep parts of one (edit, extend)."""
        if value is not None and (info.data.get("edit") is not None or info.data.get("extend") is not None):
            raise ValueError("a remix regenerates the whole song: give remix without edit or extend")
        return value

    @field_validator("min_lyrics_accuracy")
    @classmethod
    def _lyrics_to_check(cls, value: float | None, info: ValidationInfo) -> float | None:
        """An instrumental has no lyrics to check."""
        if value is not None and info.data.get("instrumental"):
            raise ValueError("an instrumental has no lyrics to check: leave min_lyrics_accuracy out")
        return value

    @field_validator("style_prompt", "negative_style_prompt")
    @classmethod
    def _a_style_says_something(cls, value: str | None) -> str | None:
        """A style must say something: ``MIN_STYLE_WEIGHT`` counted by ``meaning_weight`` (one Han character is a
        syllable and a morpheme: "流行", pop, is a style)."""
        if value is not None and meaning_weight(value) < MIN_STYLE_WEIGHT:
            raise ValueError("describe the style in at least 3 characters, or 2 Chinese, Japanese or Korean characters "
                             "(e.g. \"pop\", \"流行\")")
        return value

    @field_validator("lyrics", mode="before")
    @classmethod
    def _blank_lyrics_are_none(cls, value: object) -> object:
        """Empty or blank lyrics are no lyrics (an instrumental's)."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def variations(self) -> int:
        """How many songs the job makes: ``best_of`` or ``batch_size``."""
        return self.best_of or self.batch_size

    def sampling(self) -> SamplingSettings:
        """The preset's settings with the explicit overrides applied. A ``steps`` override keeps the preset's
        schedule and guidance interval (``fast`` with 24 steps: 24 sway grid points, guided inside the interval)."""
        base = PRESETS[self.preset]
        return replace(
            base,
            steps=self.steps if self.steps is not None else base.steps,
            cfg_strength=self.cfg_strength if self.cfg_strength is not None else base.cfg_strength,
        )

    def cost_units(self) -> int:
        """What this request costs against the hourly rate limit: seconds x steps x variations, in units of the
        default job, rounded up (at least 1). The steps are weighed by the DiT rows each costs: an update outside
        the preset's guidance interval runs one row instead of two (so ``fast``'s 16 steps, 5 of 15 updates guided,
        count as 16 x 20/30); the six original presets guide every update and count their steps as they are.

        Example
        -------
        >>> GenerateRequest(lyrics="[00:00.00]hello there", style_prompt="pop").cost_units()
        1
        >>> GenerateRequest(lyrics="[00:00.00]hello there", style_prompt="pop", audio_length=285, batch_size=4,
        ...                 preset="ultra").cost_units()
        38
        >>> GenerateRequest(lyrics="[00:00.00]hello there", style_prompt="pop", audio_length=285, batch_size=4,
        ...                 preset="fast").cost_units()
        4
        """
        sampling = self.sampling()
        updates = sampling.steps - 1
        work = self.audio_length * sampling.steps * (updates + sampling.in_interval()) * self.variations
        return max(1, -(-work // (_UNIT_WORK * 2 * updates)))

    def parsed_lyrics(self) -> ParsedLyrics:
        """The lyrics validated against ``audio_length`` (raises ``shared.lrc.LyricsError``); an instrumental's are
        empty, and any sung line in them is an error."""
        if self.instrumental:
            if self.lyrics is not None and has_words(self.lyrics):
                raise LyricsError([LyricsIssue(None, "an instrumental has no sung lines: remove the lyrics or set "
                                               "instrumental to false")])
            return ParsedLyrics((), timed=True)
        assert self.lyrics is not None  # _one_style
        return parse_lrc(self.lyrics, self.audio_length, bpm=self.bpm)

    def timed_lrc(self, parsed: ParsedLyrics) -> str:
        """The LRC the song is sung from, given ``parsed`` (``parsed_lyrics()``): the caller's lyrics as written when
        they are timed, else the times placed at the tempo; empty for an instrumental."""
        return parsed.to_lrc() if not parsed.timed else self.lyrics or ""


class UploadRequest(BaseModel):
    """Body of ``POST /api/v1/uploads``."""

    model_config = ConfigDict(extra="forbid")

    content_type: UploadContentType
    size_bytes: int = Field(gt=0, description="Exact size of the file to upload; the URL accepts only this size")


class Meter(StrEnum):
    """A quota: what is counted, per account, in fixed UTC windows."""

    UNITS_PER_HOUR = "units_per_hour"
    JOBS_PER_HOUR = "jobs_per_hour"
    GPU_SECONDS_PER_DAY = "gpu_seconds_per_day"
    UPLOADS_PER_DAY = "uploads_per_day"

    @property
    def window_s(self) -> int:
        """Length of one counting window (they start at multiples of it since the epoch, UTC)."""
        return 86400 if self.name.endswith("_DAY") else 3600
