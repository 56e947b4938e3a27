"""The one stand-in for ``inference_container.diffrhythm.pipeline.Pipeline`` where the worker runs without a model:
the worker's unit tests and the soak's worker processes (``tests.soak.worker``). It groups requests by the real
``Pipeline.batch_key``, reports progress like the real pipeline, and returns short tones."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from inference_container.diffrhythm.pipeline import Pipeline
from inference_container.diffrhythm.songs import Progress, Song, SongRequest, ranked
from inference_container.errors import InputError
from inference_container.lyrics_check import LyricsReport

RATE = 44100


class StandInPipeline:
    """What the worker uses of ``Pipeline``. Lyrics in ``refuse`` or ``crash`` make it raise (as the real pipeline
    does for bad input, or as a GPU error would), and ``error`` is raised by every call when set. Sampling takes
    ``seconds``; ``during_sampling`` runs between two of its progress reports. ``rows`` lists the rows (variations)
    of every sampling call, ``batches`` their lyrics. Variation ``i`` of a request sounds at ``100 * (seed + i)`` Hz,
    so a song tells which seed made it; each gets a score (``score_of`` its seed), a lyric check where ``accuracy``
    names its seed, and ranked requests come back best first, as the real pipeline does."""

    batch_key = staticmethod(Pipeline.batch_key)

    def __init__(self, seconds: float = 0.0, model_name: str = "stand-in") -> None:
        self.seconds, self.model_name = seconds, model_name
        self.batches: list[list[str]] = []
        self.rows: list[int] = []
        self.refuse: set[str] = set()
        self.crash: set[str] = set()
        self.during_sampling: Callable[[], None] = lambda: None
        self.error: Exception | None = None
        self.accuracy: dict[int, float] = {}  # seed -> the lyric check's accuracy of its variation (else unchecked)

    def generate_batch(self, requests: Sequence[SongRequest], progress: Progress | None = None) -> list[Song]:
        report = progress or (lambda stage, percent: None)
        self.batches.append([r.lrc for r in requests])
        self.rows.append(sum(r.variations for r in requests))
        if self.error is not None:
            raise self.error
        if refused := [r.lrc for r in requests if r.lrc in self.refuse]:
            raise InputError(f"cannot sing {refused[0]!r}")
        if any(r.lrc in self.crash for r in requests):
            raise RuntimeError("CUDA error: an illegal memory access (simulated)")
        report("lyrics", 0.0)
        report("sampling", 5.0)
        self.during_sampling()
        time.sleep(self.seconds)
        report("sampling", 50.0)
        return [self._song(r) for r in requests]

    def _song(self, request: SongRequest) -> Song:
        seeds = [request.seed + i for i in range(request.variations)]
        tones = [(0.1 * np.sin(2 * np.pi * 100 * seed * np.arange(RATE // 10) / RATE))[:, None]
                 .repeat(2, axis=1).astype(np.float32) for seed in seeds]
        scores = [score_of(seed) for seed in seeds]
        checks = [LyricsReport((), self.accuracy[seed]) if seed in self.accuracy else None for seed in seeds]
        song = Song(tones, RATE, [], {"model": self.model_name, "seed": request.seed, "seeds": seeds,
                                      "scores": scores, "ranked": request.rank, "timings": {"sampling_s": 0.5},
                                      "lyrics_accuracy": [c.lyrics_accuracy if c else None for c in checks]},
                    scores=scores, checks=checks)
        return ranked(song) if request.rank else song


def score_of(seed: int) -> float:
    """The stand-in's score of the variation made from ``seed`` (not monotonic in the seed, so ranking shows)."""
    return round((seed * 0.37) % 1.0, 4)
