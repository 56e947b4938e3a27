"""The VAE (Stable-Audio "Oobleck" style, 64-channel latents at ``shared.timeline.LATENT_RATE``), behind a small
interface.

The published ``vae_model.pt`` is a TorchScript archive with ``decode_export(latent [b, 64, n]) -> audio
[b, 2, n * HOP]`` and ``encode_export(audio [b, 2, s]) -> [b, 128, s / HOP]`` (mean and scale). Songs are decoded in
overlapping windows (32 frames overlap, seams cut mid-overlap) of ``chunk`` frames: 128 bounds peak memory (the CPU
default, as upstream); ``None`` decodes the whole latent at once and halves the window after each out-of-memory error
(the GPU default: the largest window that fits, fewer seams, no overlap recomputed).

On a GPU the decoder may run in half precision (``VAE.load(..., precision="fp16")``): a copy of the decoder in that
dtype, accepted at load only if its audio stays within ``HALF_TOLERANCE`` of the float32 decoder's on a probe latent,
and bypassed (float32 again) for any song whose half-precision audio is not finite.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from inference_container.diffrhythm.config import LATENT_CHANNELS
from inference_container.diffrhythm.device import torch_dtype
from shared.timeline import HOP

logger = logging.getLogger(__name__)

#: largest relative L2 error ``|half - fp32| / |fp32|`` of the audio a half-precision decoder may have (-40 dB)
HALF_TOLERANCE = 1e-2
MIN_CHUNK = 128  # the smallest window the out-of-memory fallback halves to
OVERLAP = 32
_PROBE_FRAMES = 96  # the probe latent's length (frames) for the half-precision check


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


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """``|value - reference| / |reference|`` (L2 norms, float32).

    Example
    -------
    >>> relative_error(torch.tensor([1.0, 1.01]), torch.tensor([1.0, 1.0])) < 0.01
    True
    """
    difference = (value.float() - reference.float()).norm()
    return float(difference / reference.float().norm().clamp(min=1e-12))


class VAE:
    """Decoding and encoding through a ``LatentCodec``; ``half`` is the decoder's half-precision copy and its dtype
    (``VAE.load`` makes and checks it)."""

    def __init__(self, codec: LatentCodec, chunk: int | None = MIN_CHUNK, overlap: int = OVERLAP,
                 half: tuple[LatentCodec, torch.dtype] | None = None) -> None:
        if not 0 <= overlap < (chunk or MIN_CHUNK) or overlap % 2:
            raise ValueError("overlap must be even and smaller than chunk")
        self.codec, self.chunk, self.overlap, self.half = codec, chunk, overlap, half
        self.fitted: int | None = None  # chunk None: the largest window that fitted so far (None: the whole latent)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", precision: str = "fp32",
             chunk: int | None = MIN_CHUNK) -> VAE:
        """Load the TorchScript ``vae_model.pt``; with ``precision`` fp16 or bf16 also a decoder in that dtype,
        kept only if it passes ``half_precision_error`` (else a warning, and float32 decodes)."""
        vae = cls(torch.jit.load(str(path), map_location=device).eval(), chunk=chunk)
        if precision != "fp32":
            dtype = torch_dtype(precision)
            half = torch.jit.load(str(path), map_location=device).eval().to(dtype)
            try:
                error = vae.half_precision_error(half, dtype, torch.device(device))
            except RuntimeError as failure:  # e.g. a float32 constant inside the archive's graph
                logger.warning("the VAE does not run in %s (%s): decoding in float32", precision, failure)
                return vae
            if not error <= HALF_TOLERANCE:  # NaN too
                logger.warning("the VAE's %s decode differs from float32 by %.2g (> %g): decoding in float32",
                               precision, error, HALF_TOLERANCE)
                return vae
            logger.info("VAE decodes in %s", precision, extra={"relative_error": round(error, 6)})
            vae.half = (half, dtype)
        return vae

    @torch.inference_mode()
    def half_precision_error(self, half: LatentCodec, dtype: torch.dtype, device: torch.device) -> float:
        """Relative error of ``half``'s audio against the float32 decoder's on a fixed random latent (seed 0)."""
        probe = torch.randn(1, LATENT_CHANNELS, _PROBE_FRAMES, generator=torch.Generator().manual_seed(0)).to(device)
        return relative_error(half.decode_export(probe.to(dtype)), self.codec.decode_export(probe))

    @torch.inference_mode()
    def decode(self, latent: torch.Tensor, chunked: bool = True) -> torch.Tensor:
        """Latent [b, n, 64] -> audio [b, 2, n * HOP], float32 (half precision where loaded so, unless its audio is
        not finite)."""
        x = latent.float().transpose(1, 2).contiguous()
        if self.half is not None:
            codec, dtype = self.half
            audio = self._decode(codec, x.to(dtype), chunked).float()
            if bool(torch.isfinite(audio).all()):
                return audio
            logger.warning("half-precision decode was not finite; decoding this song in float32")
        return self._decode(self.codec, x, chunked).float()

    def _decode(self, codec: LatentCodec, x: torch.Tensor, chunked: bool) -> torch.Tensor:
        """One decode in ``self.chunk`` windows; ``chunk=None``: the largest window that fits (see the module)."""
        frames = x.shape[-1]
        if not chunked:
            return codec.decode_export(x)
        if self.chunk is not None:
            return _chunked(codec.decode_export, x, frames, 1, HOP, self.chunk, self.overlap)
        window = self.fitted or frames
        while True:
            try:
                audio = _chunked(codec.decode_export, x, frames, 1, HOP, max(window, MIN_CHUNK), self.overlap)
            except torch.OutOfMemoryError:
                if window <= MIN_CHUNK:
                    raise
                window = max(MIN_CHUNK, min(window, frames) // 2)
                if x.is_cuda:
                    torch.cuda.empty_cache()
                logger.warning("VAE decode out of memory; trying windows of %d frames", window)
                continue
            if window < frames:
                self.fitted = window
            return audio

    @torch.inference_mode()
    def encode(self, audio: torch.Tensor, seed: int = 0, chunked: bool = True) -> torch.Tensor:
        """Audio [b, 2, s] at 44.1 kHz -> a latent [b, s // HOP, 64] sampled from the posterior (edit mode)."""
        frames = audio.shape[-1] // HOP
        x = audio[..., : frames * HOP].float()
        if chunked:
            stats = _chunked(self.codec.encode_export, x, frames, HOP, 1, self.chunk or MIN_CHUNK, self.overlap)
        else:
            stats = self.codec.encode_export(x)
        mean, scale = stats.float().chunk(2, dim=1)
        noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(seed)).to(mean.device)
        return (mean + (F.softplus(scale) + 1e-4) * noise).transpose(1, 2)
