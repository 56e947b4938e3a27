"""The song's latent time line and the two DiffRhythm variants: the one place that knows frames, seconds and which
model serves a song. Torch-free: the contract, the lyrics validation, the worker and the model library all read it.

DiffRhythm generates 44.1 kHz stereo through a VAE whose latent frames each stand for ``HOP`` audio samples. The
``95s`` model always generates its whole ``max_frames`` window; the ``full`` model generates as many frames as the
song needs, up to its window, and also embeds that duration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SAMPLE_RATE = 44100  # Hz, the VAE's audio rate
HOP = 2048  # audio samples per latent frame
LATENT_RATE = SAMPLE_RATE / HOP  # latent frames per second

VariantName = Literal["95s", "full"]


@dataclass(frozen=True)
class Variant:
    """One published DiT: its name (the bundle's folder), latent window and the song lengths it serves."""

    name: VariantName
    max_frames: int
    max_seconds: int
    has_duration: bool  # the model embeds the song's duration

    def end_frame(self, seconds: float) -> int:
        """Frames generated for a song of ``seconds``: the whole window, or the song's length (``full``)."""
        return min(frame_at(seconds), self.max_frames) if self.has_duration else self.max_frames


SHORT = Variant("95s", max_frames=2048, max_seconds=95, has_duration=False)
FULL = Variant("full", max_frames=6144, max_seconds=285, has_duration=True)
VARIANTS: dict[str, Variant] = {variant.name: variant for variant in (SHORT, FULL)}

MIN_SECONDS = SHORT.max_seconds  # the shortest song the service accepts (the frontend's default length)
MAX_SECONDS = FULL.max_seconds


def frame_at(seconds: float) -> int:
    """Latent frame at ``seconds`` into the song (where a lyric line timed there starts).

    Example
    -------
    >>> frame_at(10.0)
    215
    """
    return int(seconds * LATENT_RATE)


def variant_for(seconds: float) -> Variant:
    """The model that serves a song of ``seconds``: ``95s`` up to its length, else ``full``.

    Example
    -------
    >>> variant_for(MIN_SECONDS).name, variant_for(MIN_SECONDS + 1).name
    ('95s', 'full')
    """
    return SHORT if seconds <= SHORT.max_seconds else FULL


def variant_of(max_frames: int) -> Variant:
    """The variant whose window is ``max_frames`` (a checkpoint's or a golden folder's); ``ValueError`` otherwise."""
    for variant in VARIANTS.values():
        if variant.max_frames == max_frames:
            return variant
    windows = ", ".join(f"{v.max_frames} ({v.name})" for v in VARIANTS.values())
    raise ValueError(f"max_frames must be one of {windows}, got {max_frames}")


def end_frame(seconds: float) -> int:
    """Length in latent frames of the lyric sequence (and the latent) of a song of ``seconds``.

    Example
    -------
    >>> end_frame(MIN_SECONDS) == SHORT.max_frames, end_frame(180), end_frame(MAX_SECONDS)
    (True, 3875, 6136)
    """
    return variant_for(seconds).end_frame(seconds)
