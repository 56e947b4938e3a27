"""The upstream-like reference path: how upstream DiffRhythm's sampler executes, re-run with OUR module's weights.

Written here from a reading of upstream's ``CFM.sample`` and DiT (none of its code), so that one benchmark run times
both paths on the same weights. Per Euler update it runs

- two forwards, one after the other: conditional, then unconditional (reference latent and lyrics zeroed, the
  negative style), each of batch ``b``;
- in each forward, everything that does not change during sampling again: the start-time (and duration) embedding,
  the lyric ConvNeXt and the per-layer text residuals;
- attention through SDPA with an additive, all-zero mask ``[b, 1, n, n]`` in the model's dtype, as upstream's Llama
  layers receive one (a mask rules out SDPA's flash kernel);
- the ODE state and the time grid in the model's dtype (fp16 on a GPU, as upstream loads its model);
- the input embedding's sum in upstream's order, ``conv(x) + x``: the sum takes the convolution's transposed
  layout, so every later activation is frame-strided and each projection runs as a batched product over a copied
  weight (ours adds ``x + conv(x)`` and keeps the contiguous layout: the same numbers).

The numbers it computes are ours up to rounding (``benchmarks.model`` checks the agreement of one step).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F

from inference_container.diffrhythm.model import DiT
from inference_container.diffrhythm.model.layers import DecoderBlock, InputEmbedding


def _rotate_half(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin


def _input_embedding(embed: InputEmbedding, x: torch.Tensor, cond: torch.Tensor, text: torch.Tensor,
                     style: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The input embedding with upstream's order of the final sum (the convolution's output first)."""
    h = embed.project(x, cond, text, style, c)
    out: torch.Tensor = embed.conv_pos_embed(h) + h
    return out


def _block(block: DecoderBlock, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
           mask: torch.Tensor | None) -> torch.Tensor:
    """One decoder block with an explicit attention mask (its weights, our attention arithmetic)."""
    attention = block.self_attn
    x = block.input_layernorm(h)
    b, n, d = x.shape

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(b, n, attention.heads, d // attention.heads).transpose(1, 2)

    cos, sin = rope
    q = _rotate_half(split(attention.q_proj(x)), cos, sin)
    k = _rotate_half(split(attention.k_proj(x)), cos, sin)
    out = F.scaled_dot_product_attention(q, k, split(attention.v_proj(x)), attn_mask=mask)
    h = h + attention.o_proj(out.transpose(1, 2).reshape(b, n, d))
    result: torch.Tensor = h + block.mlp(block.post_attention_layernorm(h))
    return result


class UpstreamLike:
    """Guided velocity and Euler sampling executed the way upstream's ``CFM.sample`` executes them.

    ``mask=False`` drops the attention mask (an ablation: what the mask alone costs)."""

    def __init__(self, model: DiT, mask: bool = True) -> None:
        self.model, self.mask = model, mask

    def forward(self, x: torch.Tensor, cond: torch.Tensor, text: torch.Tensor, time: torch.Tensor,
                style: torch.Tensor, start_time: torch.Tensor, duration: torch.Tensor | None,
                drop: bool) -> torch.Tensor:
        """One DiT forward, recomputing the step-invariant conditioning; ``drop``: the unconditional branch."""
        m = self.model
        b, n, _ = x.shape
        if time.ndim == 0:
            time = time.repeat(b)
        c = m.time_embed(time) + m.start_time_embed(start_time)
        if m.duration_time_embed is not None and duration is not None:
            c = c + m.duration_time_embed(duration)
        text_features = m.text_embed(torch.zeros_like(text) if drop else text)
        h = _input_embedding(m.input_embed, x, torch.zeros_like(cond) if drop else cond, text_features, style, c)
        rope = m.rotary(n, h.device, h.dtype)
        mask = None
        if self.mask:  # all frames valid: 0 everywhere, the dtype's minimum where a frame would be masked
            valid = torch.ones(b, n, dtype=torch.bool, device=h.device)
            inverted = 1.0 - valid[:, None, None, :].expand(b, 1, n, n).to(h.dtype)
            mask = inverted.masked_fill(inverted.bool(), torch.finfo(h.dtype).min)
        for i, block in enumerate(m.transformer_blocks):
            h = _block(cast(DecoderBlock, block), h, rope, mask)
            if i < len(m.text_fusion_linears):
                h = h + m.text_fusion_linears[i](text_features)
        out: torch.Tensor = m.proj_out(m.norm_out(h, c))
        return out

    def velocity(self, x: torch.Tensor, t: torch.Tensor, *, text: torch.Tensor, cond: torch.Tensor,
                 style: torch.Tensor, negative_style: torch.Tensor, start_time: torch.Tensor,
                 duration: torch.Tensor | None, cfg_strength: float) -> torch.Tensor:
        """The guided velocity: the conditional forward, then the unconditional one."""
        pred = self.forward(x, cond, text, t, style, start_time, duration, drop=False)
        if cfg_strength < 1e-5:
            return pred
        null = self.forward(x, cond, text, t, negative_style, start_time, duration, drop=True)
        return pred + (pred - null) * cfg_strength

    def sample(self, noise: torch.Tensor, *, text: torch.Tensor, cond: torch.Tensor, style: torch.Tensor,
               negative_style: torch.Tensor, start_time: torch.Tensor, duration: torch.Tensor | None, steps: int,
               cfg_strength: float) -> torch.Tensor:
        """Euler from ``noise`` over ``steps`` grid points (``steps - 1`` updates), state and grid in the model's
        dtype; generation everywhere (no kept frames)."""
        dtype = self.model.dtype
        grid = torch.linspace(0, 1, steps, device=noise.device, dtype=dtype)
        cond, style, negative_style = cond.to(dtype), style.to(dtype), negative_style.to(dtype)
        start_time, duration = start_time.to(dtype), None if duration is None else duration.to(dtype)
        y = noise.to(dtype)
        for i in range(steps - 1):
            v = self.velocity(y, grid[i], text=text, cond=cond, style=style, negative_style=negative_style,
                              start_time=start_time, duration=duration, cfg_strength=cfg_strength)
            y = y + (grid[i + 1] - grid[i]) * v
        return y
