"""Named sampling presets, as the existing frontend knows them. ``high`` equals upstream DiffRhythm's default. And
how many variations (songs) one job makes at most."""

from __future__ import annotations

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


class MasterPreset(StrEnum):
    """Mastering presets (applied when ``auto_master`` is true)."""

    SUBTLE = "subtle"
    BALANCED = "balanced"
    LOUD = "loud"
    BROADCAST = "broadcast"


@dataclass(frozen=True)
class SamplingSettings:
    """Euler steps and classifier-free guidance strength."""

    steps: int
    cfg_strength: float


PRESETS: dict[Preset, SamplingSettings] = {
    Preset.PREVIEW: SamplingSettings(4, 2.0),
    Preset.DRAFT: SamplingSettings(8, 2.5),
    Preset.STANDARD: SamplingSettings(16, 3.0),
    Preset.HIGH: SamplingSettings(32, 4.0),
    Preset.MAXIMUM: SamplingSettings(64, 5.0),
    Preset.ULTRA: SamplingSettings(100, 6.0),
}
