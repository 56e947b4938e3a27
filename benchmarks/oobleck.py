"""A full-size stand-in for the published VAE's decoder, to time decoding without its weights.

Our ``vae.py`` loads the real decoder from the published TorchScript archive (``vae_model.pt``); without that file the
module cannot be built. This stand-in has the architecture of the "Oobleck" decoder of Stable Audio Open, as that
model's published configuration describes it: 64 latent channels, base width 128 with multipliers 1, 2, 4, 8, 16,
upsampling strides 2, 4, 4, 8, 8 (2048 samples per frame), three dilated residual units (1, 3, 9) per stage, snake
activations, stereo out. Random weights. It does the same convolution work as the real decoder, not necessarily
the same kernels: the archive may fuse its activations, and it may keep weight normalisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inference_container.diffrhythm.config import LATENT_CHANNELS


class Snake(nn.Module):
    """``x + sin(alpha x)^2 / beta`` per channel (alpha and beta stored as logarithms)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(1, channels, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.beta.exp() + 1e-9).reciprocal() * torch.sin(x * self.alpha.exp()).pow(2)


class ResidualUnit(nn.Module):
    """Snake, dilated conv (k=7), snake, pointwise conv; residual."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            Snake(channels), nn.Conv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
            Snake(channels), nn.Conv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.layers(x)
        return out


def _up_block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Snake, transposed conv upsampling by ``stride``, three residual units."""
    return nn.Sequential(
        Snake(in_channels),
        nn.ConvTranspose1d(in_channels, out_channels, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        *(ResidualUnit(out_channels, dilation) for dilation in (1, 3, 9)),
    )


class OobleckDecoder(nn.Module):
    """Latent [b, 64, n] -> audio [b, 2, n * prod(strides)]; ``channels`` shrinks it for a quick CPU run."""

    def __init__(self, channels: int = 128, multipliers: tuple[int, ...] = (1, 2, 4, 8, 16),
                 strides: tuple[int, ...] = (2, 4, 4, 8, 8), latent_dim: int = LATENT_CHANNELS) -> None:
        super().__init__()
        widths = [channels * m for m in (1, *multipliers)]
        layers: list[nn.Module] = [nn.Conv1d(latent_dim, widths[-1], 7, padding=3)]
        for i in range(len(strides), 0, -1):
            layers.append(_up_block(widths[i], widths[i - 1], strides[i - 1]))
        layers += [Snake(widths[0]), nn.Conv1d(widths[0], 2, 7, padding=3, bias=False)]
        self.layers = nn.Sequential(*layers)
        self.hop = math.prod(strides)

    def decode_export(self, latent: torch.Tensor) -> torch.Tensor:
        """What ``vae.VAE`` calls: the latent is cast to the decoder's dtype."""
        out: torch.Tensor = self.layers(latent.to(next(self.parameters()).dtype))
        return out

    def encode_export(self, audio: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("the stand-in only decodes")
