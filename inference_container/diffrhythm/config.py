"""Model hyperparameters (frozen dataclasses beside the model, never environment variables) and latent constants."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from shared.lrc import LATENT_RATE, MAX_FRAMES_95S, MAX_FRAMES_FULL
from shared.lrc import end_frame as frames_for  # latent frames of a song of that many seconds

__all__ = ["HOP", "LATENT_CHANNELS", "LATENT_RATE", "MAX_FRAMES_95S", "MAX_FRAMES_FULL", "SAMPLE_RATE", "STYLE_DIM",
           "DiTConfig", "frames_for", "max_frames_for"]

SAMPLE_RATE = 44100
HOP = 2048  # audio samples per latent frame (LATENT_RATE = SAMPLE_RATE / HOP, defined with the lyrics timeline)
LATENT_CHANNELS = 64
STYLE_DIM = 512  # MuQ-MuLan embedding width; also the conditioning width of the DiT


@dataclass(frozen=True)
class DiTConfig:
    """The ``model`` block of upstream's ``config/diffrhythm-1b.json`` plus the variant's ``max_frames``.

    ``heads`` is read but ignored, as upstream ignores it: attention always has 32 heads.
    """

    dim: int = 2048
    depth: int = 16
    heads: int = 32
    ff_mult: int = 4
    text_dim: int = 512
    conv_layers: int = 4
    mel_dim: int = LATENT_CHANNELS
    text_num_embeds: int = 363
    max_frames: int = MAX_FRAMES_95S

    attention_heads: int = 32
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.text_dim != STYLE_DIM:
            raise ValueError(f"text_dim must be {STYLE_DIM}: the text fusion layers project a {STYLE_DIM}-wide text "
                             f"embedding (got {self.text_dim})")
        if self.dim % self.attention_heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by {self.attention_heads} attention heads")
        if self.max_frames not in (MAX_FRAMES_95S, MAX_FRAMES_FULL):
            raise ValueError(f"max_frames must be {MAX_FRAMES_95S} (95 s model) or {MAX_FRAMES_FULL} (full model)")

    @property
    def has_duration(self) -> bool:
        """The full (285 s) model also embeds the song's duration."""
        return self.max_frames == MAX_FRAMES_FULL

    @classmethod
    def from_json(cls, path: str | Path, max_frames: int) -> DiTConfig:
        """Read upstream's config JSON (``{"model_type": ..., "model": {...}}``)."""
        data: dict[str, Any] = json.loads(Path(path).read_text())
        model = data.get("model", data)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in model.items() if k in known}, max_frames=max_frames)


def max_frames_for(seconds: float) -> int:
    """Which model serves a song of ``seconds``: its ``max_frames``."""
    return MAX_FRAMES_95S if seconds <= 95 else MAX_FRAMES_FULL
