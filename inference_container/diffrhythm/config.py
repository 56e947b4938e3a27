"""Model hyperparameters (frozen dataclasses beside the model, never environment variables) and latent widths.

The time line (sample rate, hop, latent rate, the two variants' windows) lives in ``shared.timeline``."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from shared.timeline import SHORT, Variant, variant_of

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
    max_frames: int = SHORT.max_frames

    attention_heads: int = 32
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.text_dim != STYLE_DIM:
            raise ValueError(f"text_dim must be {STYLE_DIM}: the text fusion layers project a {STYLE_DIM}-wide text "
                             f"embedding (got {self.text_dim})")
        if self.dim % self.attention_heads:
            raise ValueError(f"dim ({self.dim}) must be divisible by {self.attention_heads} attention heads")
        variant_of(self.max_frames)  # raises for a window no published model has

    @property
    def variant(self) -> Variant:
        """The published model this configuration describes."""
        return variant_of(self.max_frames)

    @property
    def has_duration(self) -> bool:
        """The full model also embeds the song's duration."""
        return self.variant.has_duration

    @classmethod
    def from_json(cls, path: str | Path, max_frames: int) -> DiTConfig:
        """Read upstream's config JSON (``{"model_type": ..., "model": {...}}``)."""
        data: dict[str, Any] = json.loads(Path(path).read_text())
        model = data.get("model", data)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in model.items() if k in known}, max_frames=max_frames)

