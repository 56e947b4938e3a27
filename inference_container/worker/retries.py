"""``min_lyrics_accuracy``: a job whose variations all sing their lyrics worse than asked is generated again with new
seeds (variation ``i`` of attempt ``a`` uses ``seed + a x variations + i``), at most ``LYRIC_REGENERATIONS`` times,
each attempt charged to the job's account like the job itself; a job that never reaches it fails with a reason
naming its best score."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from inference_container.diffrhythm.songs import Song, SongRequest
from inference_container.worker.lease import Claimed
from shared.accounts import Meter
from shared.ports import Clock, Usage
from shared.presets import LYRIC_REGENERATIONS
from shared.records import JobRequestRecord, utcnow

logger = logging.getLogger(__name__)

Generate = Callable[[list[SongRequest], int], list[Song]]  # (requests, attempt number from 2) -> their songs


def best_accuracy(song: Song) -> float | None:
    """The best lyric accuracy among ``song``'s variations (None: none was checked)."""
    found = [accuracy for accuracy in song.lyrics_accuracy if accuracy is not None]
    return max(found) if found else None


def short_of(request: SongRequest, song: Song) -> bool:
    """Whether ``song`` misses its request's ``min_lyrics_accuracy`` (a song with nothing checked misses nothing)."""
    best = best_accuracy(song)
    return request.min_lyrics_accuracy is not None and best is not None and best < request.min_lyrics_accuracy


@dataclass
class LyricRetries:
    """Regenerates the jobs of a group that miss their ``min_lyrics_accuracy``; ``usage`` is charged for each new
    attempt (None: attempts are not charged, as on the command line)."""

    usage: Usage | None
    clock: Clock = field(default=utcnow)
    regenerations: int = LYRIC_REGENERATIONS

    def run(self, group: Sequence[Claimed], songs: Sequence[Song], generate: Generate) -> tuple[list[Song],
                                                                                                 dict[str, str]]:
        """``songs`` (the group's, in order) with every job that missed its minimum generated again until it reaches
        it; returns the songs and, per job that failed, the reason."""
        songs = list(songs)
        best = [best_accuracy(song) or 0.0 for song in songs]
        failed: dict[str, str] = {}
        for attempt in range(1, self.regenerations + 1):
            short = [k for k, claimed in enumerate(group)
                     if claimed.job_id not in failed and short_of(claimed.song, songs[k])]
            again = []
            for k in short:
                refused = self._charge(group[k].request)
                if refused is None:
                    again.append(k)
                else:
                    failed[group[k].job_id] = _reason(group[k].song, attempt, best[k], refused)
            if not again:
                break
            logger.info("regenerating for min_lyrics_accuracy",
                        extra={"jobs": [group[k].job_id for k in again], "attempt": attempt + 1})
            requests = [replace(group[k].song, seed=group[k].song.seed + attempt * group[k].song.variations)
                        for k in again]
            for k, song in zip(again, generate(requests, attempt + 1), strict=True):
                song.metadata["lyric_attempts"] = attempt + 1
                songs[k] = song
                best[k] = max(best[k], best_accuracy(song) or 0.0)
        for k, claimed in enumerate(group):
            if claimed.job_id not in failed and short_of(claimed.song, songs[k]):
                failed[claimed.job_id] = _reason(claimed.song, self.regenerations + 1, best[k])
        return songs, failed

    def _charge(self, request: JobRequestRecord) -> str | None:
        """Charge one more attempt's units to the job's account; None when charged, else why it was refused."""
        if self.usage is None:
            return None
        cost, limit = request.cost_units(), request.units_per_hour
        refused = self.usage.charge(request.account or request.owner, [(Meter.UNITS_PER_HOUR, cost, limit)],
                                    self.clock())
        if refused is None:
            return None
        return (f"another attempt costs {cost} units and the quota units_per_hour ({limit} units per hour) has no "
                "room left this hour")


def _reason(request: SongRequest, attempts: int, best: float, refused: str | None = None) -> str:
    """Why a job that never reached its ``min_lyrics_accuracy`` failed."""
    assert request.min_lyrics_accuracy is not None
    said = (f"no variation reached min_lyrics_accuracy {request.min_lyrics_accuracy:g} in {attempts} "
            f"attempt{'s' if attempts > 1 else ''} (the best: {best:.3f})")
    if refused is not None:
        return f"{said}; {refused}"
    return f"{said}; lower min_lyrics_accuracy, or give the lines more time or simpler words, and submit again"
