"""What the pipeline is asked for and what it gives back: ``SongRequest`` (every setting explicit), ``Song``, and
``song_request``, the one place an accepted ``GenerateRequest`` becomes a ``SongRequest`` (the worker's and the
command line's)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from inference_container.diffrhythm.lyrics import PlacedLine
from inference_container.lyrics_check import LyricsReport
from shared.contract import DEFAULT_STYLE_WEIGHT, GenerateRequest
from shared.presets import LYRICS_RANK_SHARE, SamplingSettings, Schedule
from shared.timeline import HOP, SAMPLE_RATE, variant_for

Progress = Callable[[str, float], None]  # (stage, percent of the whole job)
Clip = tuple[np.ndarray, int]  # (samples[, channels], rate)


@dataclass
class SongRequest:
    """One generation: lyrics (timed LRC; empty for an instrumental), length, a style (text, reference audio or a mix
    of both at ``style_weight``, the text's share, which is ``None`` unless both are given; optionally a negative
    style prompt instead of the built-in one) and sampling settings (steps, guidance strength, the grid's schedule and
    the interval of flow time that is guided: ``sampling``). ``rank``: the song's variations come back sorted
    best first (``rank_value``); ``stems``: each variation's vocals and accompaniment too. ``remix_audio``: the song a
    remix starts from, noised to the flow time ``1 - remix_strength`` (both ``None`` outside a remix).
    ``min_lyrics_accuracy``: what one variation's lyric check must reach (the worker regenerates until then). No
    field has a default: each comes from the request (``song_request``)."""

    lrc: str
    audio_length: int
    style_prompt: str | None
    style_audio: Clip | None
    seed: int
    variations: int
    steps: int
    cfg_strength: float
    schedule: Schedule
    guidance_interval: tuple[float, float]
    edit_audio: Clip | None
    edit_segments: Sequence[Sequence[float]] | None
    auto_master: bool
    master_preset: str
    style_weight: float | None
    negative_style_prompt: str | None
    instrumental: bool
    rank: bool
    stems: bool
    remix_audio: Clip | None
    remix_strength: float | None
    min_lyrics_accuracy: float | None

    @property
    def sampling(self) -> SamplingSettings:
        """The sampler's settings: steps, guidance strength, schedule and guidance interval."""
        return SamplingSettings(self.steps, self.cfg_strength, self.schedule, self.guidance_interval)


def song_request(request: GenerateRequest, *, lrc: str, seed: int, style_audio: Clip | None = None,
                 edit_audio: Clip | None = None, remix_audio: Clip | None = None) -> SongRequest:
    """The pipeline's request for an accepted ``request``: ``lrc`` is its timed lyrics (``GenerateRequest.timed_lrc``,
    or an extension's joined ones), ``seed`` the seed drawn for it, and the clips are its reference
    (``reference_audio_key``), the song it edits (``edit``) and the song it remixes (``remix``) as read by the
    caller. The preset, the overrides, the style mix's default weight and the remix's strength are resolved here."""
    if (style_audio is None) != (request.reference_audio_key is None):
        raise ValueError("style_audio is the clip of reference_audio_key: give it exactly when the request names one")
    if (edit_audio is None) != (request.edit is None):
        raise ValueError("edit_audio is the song the edit changes: give it exactly when the request edits one")
    if (remix_audio is None) != (request.remix is None):
        raise ValueError("remix_audio is the song the remix starts from: give it exactly when the request remixes one")
    sampling = request.sampling()
    mixed = style_audio is not None and bool((request.style_prompt or "").strip())
    weight = request.style_weight if request.style_weight is not None else DEFAULT_STYLE_WEIGHT
    return SongRequest(
        lrc=lrc, audio_length=request.audio_length, style_prompt=request.style_prompt, style_audio=style_audio,
        seed=seed, variations=request.variations, steps=sampling.steps, cfg_strength=sampling.cfg_strength,
        schedule=sampling.schedule, guidance_interval=sampling.guidance_interval,
        edit_audio=edit_audio, edit_segments=[list(s) for s in request.edit.segments] if request.edit else None,
        auto_master=request.auto_master, master_preset=request.master_preset.value,
        style_weight=weight if mixed else None, negative_style_prompt=request.negative_style_prompt,
        instrumental=request.instrumental, rank=request.best_of is not None, stems=request.stems,
        remix_audio=remix_audio, remix_strength=request.remix.strength if request.remix else None,
        min_lyrics_accuracy=request.min_lyrics_accuracy,
    )


def edit_seconds(audio_length: float) -> float:
    """How much of a song to edit its latent uses: the generated song's latent frames plus one (so that the encoder
    still sees whole hops after resampling). Audio after that is never used, so the worker does not read it."""
    return (variant_for(audio_length).end_frame(audio_length) + 1) * HOP / SAMPLE_RATE


@dataclass
class Song:
    """The result: one stereo float32 array [samples, 2] per variation, at ``rate``; each variation's score, its
    lyric check (``checks``: None for an instrumental; empty where the worker checks no lyrics) and, where asked, its
    ``(vocals, accompaniment)`` (all in the same order), and the lyric lines as the model was given them."""

    audio: list[np.ndarray]
    rate: int
    warnings: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)
    lyrics: list[PlacedLine] = field(default_factory=list)
    stems: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    checks: list[LyricsReport | None] = field(default_factory=list)

    @property
    def lyrics_accuracy(self) -> list[float | None]:
        """Each variation's lyric accuracy (None: instrumental or unchecked)."""
        return [report.lyrics_accuracy if report else None for report in self.checks] or [None] * len(self.audio)


#: the metadata lists that follow the variations' order
PER_VARIATION = ("seeds", "scores", "lyrics_accuracy")


def rank_value(score: float, report: LyricsReport | None) -> float:
    """What ``best_of`` ranks a variation by: ``(1 - LYRICS_RANK_SHARE) x`` its style score ``+ LYRICS_RANK_SHARE
    x`` its lyric accuracy; the style score alone where it has no lyric check (an instrumental, or unchecked).

    >>> rank_value(0.4, None), round(rank_value(0.4, LyricsReport((), 0.8)), 3)
    (0.4, 0.6)
    """
    if report is None:
        return score
    return (1 - LYRICS_RANK_SHARE) * score + LYRICS_RANK_SHARE * report.lyrics_accuracy


def ranked(song: Song) -> Song:
    """``song`` with its variations sorted by ``rank_value``, best first (ties keep their order): the audio, the
    scores, the lyric checks, the stems and metadata's per-variation lists move together."""
    if len(song.scores) != len(song.audio):
        raise ValueError(f"{len(song.audio)} variations but {len(song.scores)} scores: nothing to rank by")
    checks = song.checks or [None] * len(song.audio)
    order = sorted(range(len(song.audio)), key=lambda i: -rank_value(song.scores[i], checks[i]))
    metadata = dict(song.metadata)
    for name in PER_VARIATION:
        if name in metadata:
            metadata[name] = [metadata[name][i] for i in order]
    return replace(song, audio=[song.audio[i] for i in order], scores=[song.scores[i] for i in order],
                   stems=[song.stems[i] for i in order] if song.stems else [],
                   checks=[song.checks[i] for i in order] if song.checks else [], metadata=metadata)
