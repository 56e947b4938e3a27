"""The pipeline's last step, listening to the finished songs: each variation's style score, its stems where asked,
and its lyric check where the worker has one (the vocals of the stems are reused for it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from inference_container.diffrhythm.lyric_checker import LyricChecker
from inference_container.diffrhythm.lyrics import PlacedLine
from inference_container.diffrhythm.songs import Progress, SongRequest
from inference_container.diffrhythm.stems import Separator
from inference_container.diffrhythm.style import StyleEncoder
from inference_container.lyrics_check import LyricsReport
from shared.timeline import SAMPLE_RATE

Stems = tuple[np.ndarray, np.ndarray]  # (vocals, accompaniment)
PERCENT = 95.0  # where post-processing reports its stems and lyric check (the pipeline's post-processing share)


@dataclass(frozen=True)
class Listeners:
    """What listens to a finished song: the style encoder (its score), the separator and the lyric checker (either
    None where the bundle lacks it)."""

    style: StyleEncoder
    separator: Separator | None
    checker: LyricChecker | None


def review(requests: Sequence[SongRequest], songs: Sequence[Sequence[np.ndarray]], styles: Sequence[torch.Tensor],
           lines: Sequence[Sequence[PlacedLine]], listeners: Listeners, report: Progress,
           lap: Callable[[str], None]) -> tuple[list[list[float]], list[list[Stems]], list[list[LyricsReport | None]]]:
    """Per request (``songs[j]``: its variations, made with ``styles[j]`` from ``lines[j]``): each variation's style
    score, its stems (where the request asks for them) and its lyric check (None: an instrumental, or the worker has
    no checker).
    ``lap`` records each part's time."""
    scores = [[listeners.style.score(wave, SAMPLE_RATE, styles[j]) for wave in songs[j]] for j in range(len(songs))]
    lap("scoring_s")
    stems: list[list[Stems]] = []
    for request, waves in zip(requests, songs, strict=True):
        stems.append([])
        if request.stems and listeners.separator is not None:
            for wave in waves:
                report("stems", PERCENT)  # each separation is progress (seconds to minutes)
                stems[-1].append(listeners.separator.separate(wave, SAMPLE_RATE))
    if any(request.stems for request in requests):
        lap("stems_s")
    checks: list[list[LyricsReport | None]] = [[None] * len(waves) for waves in songs]
    checker = listeners.checker
    if checker is None:
        return scores, stems, checks
    for j, (request, waves) in enumerate(zip(requests, songs, strict=True)):
        for index, wave in enumerate(waves):
            report("lyric check", PERCENT)
            vocals = stems[j][index][0] if index < len(stems[j]) else None
            checks[j][index] = None if request.instrumental else checker.check(wave, SAMPLE_RATE, lines[j], vocals)
    lap("lyric_check_s")
    return scores, stems, checks
