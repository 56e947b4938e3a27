"""What the pipeline is asked for and what it gives back: ``SongRequest`` (every setting explicit), ``Song``, and
``song_request``, the one place an accepted ``GenerateRequest`` becomes a ``SongRequest`` (the worker's and the
command line's)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from inference_container.diffrhythm.lyrics import PlacedLine
from shared.contract import DEFAULT_STYLE_WEIGHT, GenerateRequest
from shared.timeline import HOP, SAMPLE_RATE, variant_for

Progress = Callable[[str, float], None]  # (stage, percent of the whole job)
Clip = tuple[np.ndarray, int]  # (samples[, channels], rate)


@dataclass
class SongRequest:
    """One generation: lyrics (timed LRC; empty for an instrumental), length, a style (text, reference audio or a mix
    of both at ``style_weight``, the text's share, which is ``None`` unless both are given; optionally a negative
    style prompt instead of the built-in one) and sampling settings. ``rank``: the song's variations come back sorted
    by score, best first; ``stems``: each variation's vocals and accompaniment too. ``remix_audio``: the song a remix
    starts from, noised to the flow time ``1 - remix_strength`` (both ``None`` outside a remix). No field has a
    default: each comes from the request (``song_request``)."""

    lrc: str
    audio_length: int
    style_prompt: str | None
    style_audio: Clip | None
    seed: int
    variations: int
    steps: int
    cfg_strength: float
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
        edit_audio=edit_audio, edit_segments=[list(s) for s in request.edit.segments] if request.edit else None,
        auto_master=request.auto_master, master_preset=request.master_preset.value,
        style_weight=weight if mixed else None, negative_style_prompt=request.negative_style_prompt,
        instrumental=request.instrumental, rank=request.best_of is not None, stems=request.stems,
        remix_audio=remix_audio, remix_strength=request.remix.strength if request.remix else None,
    )


def edit_seconds(audio_length: float) -> float:
    """How much of a song to edit its latent uses: the generated song's latent frames plus one (so that the encoder
    still sees whole hops after resampling). Audio after that is never used, so the worker does not read it."""
    return (variant_for(audio_length).end_frame(audio_length) + 1) * HOP / SAMPLE_RATE


@dataclass
class Song:
    """The result: one stereo float32 array [samples, 2] per variation, at ``rate``; each variation's score and,
    where asked, its ``(vocals, accompaniment)`` (both in the same order), and the lyric lines as the model was given
    them."""

    audio: list[np.ndarray]
    rate: int
    warnings: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)
    lyrics: list[PlacedLine] = field(default_factory=list)
    stems: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


def ranked(song: Song) -> Song:
    """``song`` with its variations sorted by score, best first (ties keep their order): the audio, the scores, the
    stems and metadata's ``seeds`` and ``scores`` move together."""
    if len(song.scores) != len(song.audio):
        raise ValueError(f"{len(song.audio)} variations but {len(song.scores)} scores: nothing to rank by")
    order = sorted(range(len(song.audio)), key=lambda i: -song.scores[i])
    metadata = dict(song.metadata)
    for name in ("seeds", "scores"):
        if name in metadata:
            metadata[name] = [metadata[name][i] for i in order]
    return replace(song, audio=[song.audio[i] for i in order], scores=[song.scores[i] for i in order],
                   stems=[song.stems[i] for i in order] if song.stems else [], metadata=metadata)
