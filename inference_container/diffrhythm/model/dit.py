"""The DiffRhythm DiT: predicts the flow velocity of a latent song, given lyrics, style and a reference latent.

Shapes: b batch, n latent frames, 64 latent channels, d model width, c = 512 conditioning width.
The module returns a velocity and holds no loop, no cache and no file I/O; guidance and sampling live elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from inference_container.diffrhythm.config import STYLE_DIM, DiTConfig
from inference_container.diffrhythm.model.layers import (
    AdaLayerNormFinal,
    DecoderBlock,
    InputEmbedding,
    RotaryEmbedding,
    TextEmbedding,
    TimestepEmbedding,
)


@dataclass(frozen=True)
class Prepared:
    """What does not change across sampling steps: text features, their per-layer residuals and the
    start-time (+ duration) conditioning. Built once by ``DiT.prepare``."""

    text: torch.Tensor  # [b, n, 512]
    residuals: tuple[torch.Tensor, ...]  # depth // 2 tensors [b, n, d]
    c_static: torch.Tensor  # [b, c]


class DiT(nn.Module):
    """Velocity model. Parameter names follow the published ``cfm_model.pt`` (without its ``transformer.`` prefix)."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = config
        c, d = STYLE_DIM, config.dim
        self.time_embed = TimestepEmbedding(c)
        self.start_time_embed = TimestepEmbedding(c)
        self.duration_time_embed = TimestepEmbedding(c) if config.has_duration else None
        self.text_embed = TextEmbedding(config.text_num_embeds, config.text_dim, config.max_frames, config.conv_layers)
        self.input_embed = InputEmbedding(config.mel_dim, config.text_dim, c, d)
        self.transformer_blocks = nn.ModuleList(
            DecoderBlock(d, config.attention_heads, d * config.ff_mult, config.norm_eps) for _ in range(config.depth)
        )
        self.rotary = RotaryEmbedding(d // config.attention_heads, config.rope_theta)
        self.text_fusion_linears = nn.ModuleList(
            nn.Sequential(nn.Linear(c, d), nn.SiLU()) for _ in range(config.depth // 2)
        )
        self.norm_out = AdaLayerNormFinal(d, c)
        self.proj_out = nn.Linear(d, config.mel_dim)
        self.residual_dtype: torch.dtype | None = None  # the stream between blocks, if not the model's (float8.py)

    @property
    def dtype(self) -> torch.dtype:
        return self.proj_out.weight.dtype

    def prepare(self, text: torch.Tensor, start_time: torch.Tensor, duration: torch.Tensor | None = None) -> Prepared:
        """The step-invariant conditioning for lyric tokens ``text`` [b, n], ``start_time`` and ``duration`` [b]
        (both normalised to the model's ``max_frames``; ``duration`` only for the full model)."""
        text_features = self.text_embed(text)
        c_static = self.start_time_embed(start_time)
        if self.duration_time_embed is not None:
            if duration is None:
                raise ValueError("the full-length model needs the song's normalised duration")
            c_static = c_static + self.duration_time_embed(duration)
        residuals = tuple(layer(text_features) for layer in self.text_fusion_linears)
        return Prepared(text_features, residuals, c_static)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, style: torch.Tensor, time: torch.Tensor,
                prepared: Prepared) -> torch.Tensor:
        """Velocity [b, n, 64] of noisy latent ``x`` [b, n, 64] at flow ``time`` [b] (or a scalar), with reference
        latent ``cond`` [b, n, 64] and style embedding ``style`` [b, 512]."""
        if time.ndim == 0:
            time = time.repeat(x.shape[0])
        c = self.time_embed(time) + prepared.c_static
        h = self.input_embed(x, cond, prepared.text, style, c)
        rope = self.rotary(h.shape[1], h.device, h.dtype)
        h = h.to(self.residual_dtype or h.dtype)
        for i, block in enumerate(self.transformer_blocks):
            h = block(h, rope)
            if i < len(prepared.residuals):
                h = h + prepared.residuals[i]
        return self.proj_out(self.norm_out(h.to(self.dtype), c))
