"""The VAE (Stable-Audio "Oobleck" style, 64-channel latents at ``shared.timeline.LATENT_RATE``), behind a small
interface.

The published ``vae_model.pt`` is a TorchScript archive with ``decode_export(latent [b, 64, n]) -> audio
[b, 2, n * HOP]`` and ``encode_export(audio [b, 2, s]) -> [b, 128, s / HOP]`` (mean and scale). Long songs are
decoded in overlapping chunks (128 frames, 32 overlap) so peak memory stays bounded; seams are cut mid-overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from shared.timeline import HOP


class LatentCodec(Protocol):
    """What the pipeline needs from a VAE (the TorchScript file, or a test's tiny module)."""

    def decode_export(self, latent: torch.Tensor) -> torch.Tensor: ...

    def encode_export(self, audio: torch.Tensor) -> torch.Tensor: ...


def _chunked(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, frames: int, step_in: int, step_out: int,
             chunk: int, overlap: int) -> torch.Tensor:
    """Apply ``fn`` to windows of ``chunk`` frames overlapping by ``overlap`` along the last axis, and stitch.

    Window ``i`` supplies frames from ``keep[i]`` (its start, plus half the overlap after the first window) up to
    ``keep[i + 1]``; the last window is flush with the end. ``step_in`` / ``step_out`` are samples per frame on
    the input / output side (1 for latents, ``HOP`` for audio).
    """
    if frames <= chunk:
        return fn(x)
    starts = list(range(0, frames - chunk + 1, chunk - overlap))
    if starts[-1] + chunk != frames:
        starts.append(frames - chunk)
    keep = [start + (overlap // 2 if i else 0) for i, start in enumerate(starts)] + [frames]
    pieces = []
    for i, start in enumerate(starts):
        out = fn(x[..., start * step_in:(start + chunk) * step_in])
        pieces.append(out[..., (keep[i] - start) * step_out:(keep[i + 1] - start) * step_out])
    return torch.cat(pieces, dim=-1)


class VAE:
    """Decoding and encoding through a ``LatentCodec``."""

    def __init__(self, codec: LatentCodec, chunk: int = 128, overlap: int = 32) -> None:
        if not 0 <= overlap < chunk or overlap % 2:
            raise ValueError("overlap must be even and smaller than chunk")
        self.codec, self.chunk, self.overlap = codec, chunk, overlap

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", **kwargs: int) -> VAE:
        """Load the TorchScript ``vae_model.pt``."""
        return cls(torch.jit.load(str(path), map_location=device).eval(), **kwargs)

    @torch.inference_mode()
    def decode(self, latent: torch.Tensor, chunked: bool = True) -> torch.Tensor:
        """Latent [b, n, 64] -> audio [b, 2, n * HOP], float32."""
        x = latent.float().transpose(1, 2).contiguous()
        if not chunked:
            return self.codec.decode_export(x).float()
        return _chunked(self.codec.decode_export, x, x.shape[-1], 1, HOP, self.chunk, self.overlap).float()

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, seed: int = 0, chunked: bool = True) -> torch.Tensor:
        """Audio [b, 2, s] at 44.1 kHz -> a latent [b, s // HOP, 64] sampled from the posterior (edit mode)."""
        frames = audio.shape[-1] // HOP
        x = audio[..., : frames * HOP].float()
        if chunked:
            stats = _chunked(self.codec.encode_export, x, frames, HOP, 1, self.chunk, self.overlap)
        else:
            stats = self.codec.encode_export(x)
        mean, scale = stats.float().chunk(2, dim=1)
        noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(seed)).to(mean.device)
        return (mean + (F.softplus(scale) + 1e-4) * noise).transpose(1, 2)
