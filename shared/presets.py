"""Named sampling presets: the six the existing frontend knows (``high`` equals upstream DiffRhythm's default) and
two fast ones (``fast``, ``turbo``: fewer steps on a sway schedule, guidance on an interval of the flow time). And how
many variations (songs) one job makes at most."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

MAX_VARIATIONS = 8  # best_of's limit: a job's songs are variations 0 .. MAX_VARIATIONS - 1
LYRIC_REGENERATIONS = 2  # min_lyrics_accuracy: at most this many new attempts (new seeds) after the first
LYRICS_RANK_SHARE = 0.5  # best_of ranks by (1 - share) x style score + share x lyrics_accuracy (style alone unchecked)


class Preset(StrEnum):
    """Quality preset names accepted by ``POST /api/v1/generate``."""

    PREVIEW = "preview"
    DRAFT = "draft"
    STANDARD = "standard"
    HIGH = "high"
    MAXIMUM = "maximum"
    ULTRA = "ultra"
    FAST = "fast"
    TURBO = "turbo"


class MasterPreset(StrEnum):
    """Mastering presets (applied when ``auto_master`` is true)."""

    SUBTLE = "subtle"
    BALANCED = "balanced"
    LOUD = "loud"
    BROADCAST = "broadcast"


class Schedule(StrEnum):
    """Where the Euler steps' grid points lie on the flow time ``t`` (0 = noise, 1 = the song)."""

    UNIFORM = "uniform"  # evenly spaced: torch.linspace(0, 1, steps), upstream's grid
    SWAY = "sway"  # sway sampling with SWAY_COEFFICIENT: grid points concentrated near t = 0


SWAY_COEFFICIENT = -1.0  # s of sway sampling; -1: t = 1 - cos(pi/2 u), the densest near t = 0 the formula allows


def sway(u: float, s: float = SWAY_COEFFICIENT) -> float:
    """Sway sampling (F5-TTS, Chen et al. 2024, "F5-TTS: A Fairytaler that Fakes Fluent and Faithful Speech with Flow
    Matching", eq. 7): a uniform time ``u`` in [0, 1] moved to ``t = u + s * (cos(pi/2 * u) - 1 + u)``. With ``s < 0``
    the steps crowd towards ``t = 0`` (the noisy start, where the song's layout is decided); ``s = 0`` is the uniform
    grid. Both ends stay where they are (exactly: 0 maps to 0, and 1 is returned as 1).

    Example
    -------
    >>> [round(sway(u), 4) for u in (0.0, 0.25, 0.5, 0.75, 1.0)]
    [0.0, 0.0761, 0.2929, 0.6173, 1.0]
    >>> sway(0.5, s=0.0)
    0.5
    """
    if u >= 1.0:
        return 1.0
    return u + s * (math.cos(math.pi / 2 * u) - 1 + u)


def grid_times(steps: int, schedule: Schedule) -> list[float]:
    """``steps`` flow times from 0 to 1 on ``schedule`` (float64).

    Example
    -------
    >>> grid_times(3, Schedule.UNIFORM), grid_times(3, Schedule.SWAY)
    ([0.0, 0.5, 1.0], [0.0, 0.2928932188134524, 1.0])
    """
    if steps < 2:
        raise ValueError("steps must be at least 2 (the grid includes both ends)")
    uniform = [i / (steps - 1) for i in range(steps)]
    return uniform if schedule is Schedule.UNIFORM else [sway(u) for u in uniform]


@dataclass(frozen=True)
class SamplingSettings:
    """Euler steps (grid points, both ends included: ``steps - 1`` updates), classifier-free guidance strength, where
    the grid points lie (``schedule``) and the interval of flow time ``t`` on which guidance applies.

    An update from grid point ``t_i`` is guided when ``lo <= t_i <= hi`` (Kynkaanniemi et al. 2024, "Applying
    guidance in a limited interval improves sample and distribution quality in diffusion models"): it runs the
    conditional and the unconditional branch (two DiT rows per song); any other update runs the conditional branch
    alone (one row). The defaults are the original sampler: the uniform grid, guidance on every update.
    """

    steps: int
    cfg_strength: float
    schedule: Schedule = Schedule.UNIFORM
    guidance_interval: tuple[float, float] = (0.0, 1.0)

    def times(self) -> list[float]:
        """The grid's flow times, ``steps`` of them from 0 to 1 (float64; the sampler runs the same grid in float32).

        Example
        -------
        >>> SamplingSettings(5, 4.0).times()
        [0.0, 0.25, 0.5, 0.75, 1.0]
        >>> [round(t, 3) for t in SamplingSettings(5, 4.0, Schedule.SWAY).times()]
        [0.0, 0.076, 0.293, 0.617, 1.0]
        """
        return grid_times(self.steps, self.schedule)

    def guided_updates(self) -> list[bool]:
        """For each update ``i`` (from grid point ``i`` to ``i + 1``): whether it runs both branches. None does when
        guidance is off (``cfg_strength`` below 1e-5: the conditional branch alone, as the sampler runs it).

        Example
        -------
        >>> SamplingSettings(5, 4.0, guidance_interval=(0.3, 0.8)).guided_updates()
        [False, False, True, True]
        """
        lo, hi = self.guidance_interval
        on = self.cfg_strength >= 1e-5
        return [on and lo <= t <= hi for t in self.times()[:-1]]

    def forward_rows(self, start: int = 0) -> int:
        """DiT rows one song costs from grid point ``start`` on: one per update, two where it is guided (a batch of
        ``b`` songs runs ``b`` times as many). ``high``: 31 updates x 2 = 62.

        Example
        -------
        >>> PRESETS[Preset.HIGH].forward_rows(), PRESETS[Preset.FAST].forward_rows()
        (62, 20)
        """
        return sum(2 if guided else 1 for guided in self.guided_updates()[start:])

    def in_interval(self) -> int:
        """How many updates the interval covers, whatever ``cfg_strength`` (all of them for the six original
        presets): ``GenerateRequest.cost_units`` charges by it, so guidance strength 0 is not discounted.

        Example
        -------
        >>> PRESETS[Preset.HIGH].in_interval(), PRESETS[Preset.FAST].in_interval()
        (31, 5)
        """
        lo, hi = self.guidance_interval
        return sum(lo <= t <= hi for t in self.times()[:-1])


_GUIDED_MIDDLE = (0.3, 0.75)  # the fast presets' guidance interval: neither the noisiest steps nor the last ones

PRESETS: dict[Preset, SamplingSettings] = {
    Preset.PREVIEW: SamplingSettings(4, 2.0),
    Preset.DRAFT: SamplingSettings(8, 2.5),
    Preset.STANDARD: SamplingSettings(16, 3.0),
    Preset.HIGH: SamplingSettings(32, 4.0),
    Preset.MAXIMUM: SamplingSettings(64, 5.0),
    Preset.ULTRA: SamplingSettings(100, 6.0),
    # 15 updates, 5 of them guided (t = 0.33 .. 0.69): 20 DiT rows per song, 0.32 of high's 62
    Preset.FAST: SamplingSettings(16, 4.0, Schedule.SWAY, _GUIDED_MIDDLE),
    # 7 updates, 2 of them guided (t = 0.38, 0.57): 9 rows per song, 0.15 of high's
    Preset.TURBO: SamplingSettings(8, 4.0, Schedule.SWAY, _GUIDED_MIDDLE),
}
