"""Building blocks of the DiffRhythm DiT, named as in the published checkpoint.

Shapes: b batch, n latent frames, d model width, c conditioning width (512), h heads, k head width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class TimestepEmbedding(nn.Module):
    """Scalar per sample -> [b, c]: a 256-wide sinusoid (scaled by 1000), then Linear-SiLU-Linear.

    The sinusoid is always computed from the float32 value: at 1000x, a half-precision time would be off by
    up to a radian.
    """

    def __init__(self, out_dim: int, freq_dim: int = 256) -> None:
        super().__init__()
        self.freq_dim = freq_dim
        self.time_mlp = nn.Sequential(nn.Linear(freq_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, value: torch.Tensor) -> torch.Tensor:
        half = self.freq_dim // 2
        scale = math.log(10000) / (half - 1)
        freqs = torch.exp(torch.arange(half, device=value.device, dtype=torch.float32) * -scale)
        angles = 1000 * value.float()[:, None] * freqs[None, :]
        features = torch.cat((angles.sin(), angles.cos()), dim=-1)
        return self.time_mlp(features.to(self.time_mlp[0].weight.dtype))


class GRN(nn.Module):
    """Global response normalisation (ConvNeXt-V2) over the frame axis."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [b, n, d]
        gx = torch.norm(x, p=2, dim=1, keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """Depthwise conv (k=7), LayerNorm, pointwise MLP with GELU and GRN, residual."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, hidden)
        self.grn = GRN(hidden)
        self.pwconv2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [b, n, d]
        y = self.dwconv(x.transpose(1, 2)).transpose(1, 2)
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(y)))))
        return x + y


def sinusoid_table(dim: int, length: int, theta: float = 10000.0) -> torch.Tensor:
    """[length, dim]: cos of every position/frequency pair, then sin (the text position embedding)."""
    freqs = 1.0 / theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim)
    angles = torch.outer(torch.arange(length).float(), freqs)
    return torch.cat((angles.cos(), angles.sin()), dim=-1)


class TextEmbedding(nn.Module):
    """Token ids [b, n] -> [b, n, 512]: embedding (0 = filler) + sinusoidal position + ConvNeXt-V2 blocks."""

    def __init__(self, num_embeds: int, dim: int, max_pos: int, conv_layers: int) -> None:
        super().__init__()
        self.max_pos = max_pos
        self.text_embed = nn.Embedding(num_embeds + 1, dim)
        self.register_buffer("positions", sinusoid_table(dim, max_pos), persistent=False)
        self.text_blocks = nn.Sequential(*[ConvNeXtV2Block(dim, dim * 2) for _ in range(conv_layers)])

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        x = self.text_embed(text)
        if len(self.text_blocks):
            index = torch.arange(text.shape[1], device=text.device).clamp(max=self.max_pos - 1)
            x = self.text_blocks(x + self.positions[index].to(x.dtype))
        return x


class ConvPositionEmbedding(nn.Module):
    """Two grouped convolutions (k=31, 16 groups) with Mish: a relative position signal added to the input."""

    def __init__(self, dim: int, kernel_size: int = 31, groups: int = 16) -> None:
        super().__init__()
        self.conv1d = nn.Sequential(
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=kernel_size // 2), nn.Mish(),
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=kernel_size // 2), nn.Mish(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [b, n, d]
        return self.conv1d(x.transpose(1, 2)).transpose(1, 2)


class InputEmbedding(nn.Module):
    """cat(noisy latent, reference latent, text, style, conditioning) -> d, plus the conv position signal."""

    def __init__(self, mel_dim: int, text_dim: int, cond_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(mel_dim * 2 + text_dim + cond_dim * 2, out_dim)
        self.conv_pos_embed = ConvPositionEmbedding(out_dim)

    def project(self, x: torch.Tensor, cond: torch.Tensor, text: torch.Tensor, style: torch.Tensor,
                c: torch.Tensor) -> torch.Tensor:
        """The inputs side by side, projected to the model width (before the position signal)."""
        n = x.shape[1]
        projected: torch.Tensor = self.proj(
            torch.cat((x, cond, text, style[:, None].expand(-1, n, -1), c[:, None].expand(-1, n, -1)), -1))
        return projected

    def forward(self, x: torch.Tensor, cond: torch.Tensor, text: torch.Tensor, style: torch.Tensor,
                c: torch.Tensor) -> torch.Tensor:
        h = self.project(x, cond, text, style, c)
        return h + self.conv_pos_embed(h)  # h first: the sum keeps h's contiguous layout (the matrix products fold)


class RMSNorm(nn.Module):
    """Root-mean-square norm computed in float32, as Llama does."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.float()
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * y.to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Llama rotary tables for positions 0..n-1: (cos, sin), each [n, k] (frequencies repeated twice)."""

    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, n: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        angles = torch.outer(torch.arange(n, device=device, dtype=torch.float32), self.inv_freq.float())
        emb = torch.cat((angles, angles), dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin


class SelfAttention(nn.Module):
    """Bidirectional multi-head attention with rotary positions, no biases, through SDPA without a mask.

    ``fuse()`` (after loading: the published keys name the three projections) replaces ``q_proj``, ``k_proj`` and
    ``v_proj`` by one ``qkv_proj`` holding their weights side by side: one matrix product instead of three.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)
        self.qkv_proj: nn.Linear | None = None

    def fuse(self) -> None:
        """Concatenate the query, key and value projections into ``qkv_proj`` (idempotent)."""
        if self.qkv_proj is not None:
            return
        self.qkv_proj = _concatenated(self.q_proj, self.k_proj, self.v_proj)
        del self.q_proj, self.k_proj, self.v_proj

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # [b, n, d] -> [b, h, n, k]
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

        if self.qkv_proj is not None:
            q, k, v = self.qkv_proj(x).split(d, dim=-1)
        else:
            q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        cos, sin = rope
        out = F.scaled_dot_product_attention(_rotate(split(q), cos, sin), _rotate(split(k), cos, sin), split(v))
        return self.o_proj(out.transpose(1, 2).reshape(b, n, d))


class GatedMLP(nn.Module):
    """SiLU-gated MLP without biases: down(silu(gate(x)) * up(x)). ``fuse()`` (after loading) joins ``gate_proj`` and
    ``up_proj`` into one ``gate_up_proj``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)
        self.gate_up_proj: nn.Linear | None = None

    def fuse(self) -> None:
        """Concatenate the gate and up projections into ``gate_up_proj`` (idempotent)."""
        if self.gate_up_proj is not None:
            return
        self.gate_up_proj = _concatenated(self.gate_proj, self.up_proj)
        del self.gate_proj, self.up_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate_up_proj is not None:
            gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        else:
            gate, up = self.gate_proj(x), self.up_proj(x)
        return self.down_proj(F.silu(gate) * up)


def _concatenated(*linears: nn.Linear) -> nn.Linear:
    """One bias-free Linear whose output is the given Linears' outputs side by side (same device and dtype)."""
    weight = torch.cat([linear.weight.detach() for linear in linears])
    fused = nn.Linear(weight.shape[1], weight.shape[0], bias=False, device="meta")
    fused.weight = nn.Parameter(weight, requires_grad=linears[0].weight.requires_grad)
    return fused


class DecoderBlock(nn.Module):
    """Pre-norm Llama block: x + attn(norm(x)), then + mlp(norm(.))."""

    def __init__(self, dim: int, heads: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(dim, eps)
        self.self_attn = SelfAttention(dim, heads)
        self.post_attention_layernorm = RMSNorm(dim, eps)
        self.mlp = GatedMLP(dim, hidden)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope)
        return x + self.mlp(self.post_attention_layernorm(x))


class AdaLayerNormFinal(nn.Module):
    """LayerNorm without affine, modulated by the conditioning: x * (1 + scale) + shift."""

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(cond_dim, dim * 2)
        self.dim = dim

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, shift = self.linear(F.silu(c)).chunk(2, dim=-1)
        return F.layer_norm(x, (self.dim,), eps=1e-6) * (1 + scale[:, None]) + shift[:, None]
