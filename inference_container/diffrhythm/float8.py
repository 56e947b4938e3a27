"""Float8 matrix products for the DiT's decoder blocks (the worker's ``FP8``), for GPUs with float8 tensor cores.

``to_float8`` replaces every projection of the decoder blocks (attention's and the MLP's: 8.8 of the 9.9 TFLOP of a
guided step at 2048 frames) with a ``Float8Linear``: its weight stored in float8 e4m3 with one scale per tensor, its
input scaled and cast to float8 at each call (one scale per call: the largest magnitude maps to e4m3's largest
finite value), the product by ``torch._scaled_mm`` with float32 accumulation, the output in the model's dtype.
Everything else (embeddings, norms, attention itself, the output projection) keeps the model's dtype; the residual
stream between blocks is float32 (``DiT.residual_dtype``), and the guidance mix is float32 (``guidance.py``), since
guidance multiplies the branches' difference and with it their rounding.

Per-tensor scales are what ``torch._scaled_mm`` computes on every device, CPUs included, so the numbers are tested
anywhere; the speed only on a GPU with float8 tensor cores (compute capability 8.9: L4, H100, H200).
``float8_error`` is the check ``Pipeline.load`` makes before using it: one guided step's relative error against the
model it came from, which must stay within ``FLOAT8_TOLERANCE``.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn

from inference_container.diffrhythm.config import LATENT_CHANNELS, STYLE_DIM
from inference_container.diffrhythm.guidance import guided
from inference_container.diffrhythm.model import DiT
from inference_container.diffrhythm.vae import relative_error

logger = logging.getLogger(__name__)

FLOAT8 = torch.float8_e4m3fn
_FLOAT8_MAX = torch.finfo(FLOAT8).max  # 448
_TINY = 1e-12  # the smallest scale: an all-zero tensor stays zero
#: largest relative L2 error of a guided step in float8 against the model's own dtype (fp32 or bf16) on a probe
FLOAT8_TOLERANCE = 5e-2
MIN_CAPABILITY = (8, 9)  # float8 tensor cores: Ada (L4), Hopper (H100, H200) and later
_PROBE_FRAMES = 256  # the probe song's latent frames for ``float8_error``


def _scale(t: torch.Tensor) -> torch.Tensor:
    """The float32 scale that maps ``t``'s largest magnitude onto float8's largest finite value."""
    return (t.abs().amax().float().clamp(min=_TINY) / _FLOAT8_MAX).reshape(())


class Float8Linear(nn.Module):
    """``x @ weight.T`` in float8 (no bias): the weight quantized once, ``x`` at each call, each with one scale."""

    def __init__(self, weight: torch.Tensor, out_dtype: torch.dtype) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.out_dtype = out_dtype
        scale = _scale(weight)
        self.register_buffer("weight", (weight.float() / scale).to(FLOAT8))  # [out, in]: transposed, column-major
        self.register_buffer("scale", scale)

    @classmethod
    def from_linear(cls, linear: nn.Linear, out_dtype: torch.dtype) -> Float8Linear:
        if linear.bias is not None:
            raise ValueError("Float8Linear has no bias; the decoder blocks' projections have none")
        return cls(linear.weight.detach(), out_dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        scale = _scale(rows)
        out = torch._scaled_mm((rows.float() / scale).to(FLOAT8), self.weight.t(), scale_a=scale, scale_b=self.scale,
                               out_dtype=self.out_dtype)
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, out_dtype={self.out_dtype}"


def to_float8(model: DiT) -> DiT:
    """``model`` with its decoder blocks' projections in float8 (``Float8Linear``, outputs in the model's dtype) and
    a float32 residual stream, in place."""
    for block in model.transformer_blocks:
        for parent in list(block.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Linear):
                    setattr(parent, name, Float8Linear.from_linear(child, model.dtype))
    model.residual_dtype = torch.float32
    return model


def is_float8(model: DiT) -> bool:
    """Whether ``to_float8`` converted ``model``."""
    return any(isinstance(module, Float8Linear) for module in model.transformer_blocks.modules())


def float8_supported(device: str) -> bool:
    """Whether ``device`` multiplies float8 on tensor cores (a CUDA GPU of compute capability 8.9 or later)."""
    return (device.startswith("cuda") and torch.cuda.is_available()
            and torch.cuda.get_device_capability(device) >= MIN_CAPABILITY)


@torch.inference_mode()
def float8_error(model: DiT, converted: DiT) -> float:
    """Relative L2 error of ``converted``'s guided velocity (guidance 4, t = 0.5) against ``model``'s on a fixed
    random probe song (seed 0) of ``_PROBE_FRAMES`` frames."""
    g = torch.Generator().manual_seed(0)
    device, dtype, frames = model.proj_out.weight.device, model.dtype, min(_PROBE_FRAMES, model.config.max_frames)
    text = torch.randint(1, model.config.text_num_embeds, (1, frames), generator=g).to(device)
    cond, noise = (torch.randn(1, frames, LATENT_CHANNELS, generator=g).to(device, dtype) for _ in range(2))
    style, negative = (torch.randn(1, STYLE_DIM, generator=g).to(device, dtype) for _ in range(2))
    duration = torch.ones(1, device=device) if model.config.has_duration else None
    t = torch.tensor(0.5, device=device)

    def velocity(dit: DiT) -> torch.Tensor:
        return guided(dit, text=text, cond=cond, style=style, negative_style=negative, start_time=torch.zeros(1,
                      device=device), duration=duration, cfg_strength=4.0)(noise, t)

    return relative_error(velocity(converted), velocity(model))


def checked_float8(model: DiT, tolerance: float = FLOAT8_TOLERANCE) -> DiT:
    """A float8 copy of ``model`` (``to_float8``) where its guided step stays within ``tolerance`` of the model's
    (``float8_error``); else, with a warning, ``model`` itself."""
    converted = to_float8(copy.deepcopy(model))
    error = float8_error(model, converted)
    if not error <= tolerance:  # NaN too
        logger.warning("the DiT's float8 step differs from %s by %.2g (> %g): keeping %s", model.dtype, error,
                       tolerance, model.dtype)
        return model
    logger.info("DiT projections in float8", extra={"relative_error": round(error, 6)})
    return converted


def float8_where_supported(model: DiT, device: str) -> DiT:
    """``checked_float8(model)`` on a GPU with float8 tensor cores (``float8_supported``); elsewhere, with a warning,
    ``model`` itself (a fleet may mix GPU types under one setting)."""
    if not float8_supported(device):
        logger.warning("FP8 needs a GPU with float8 tensor cores (compute capability 8.9: L4, H100, H200); %s has "
                       "none: keeping %s", device, model.dtype)
        return model
    return checked_float8(model)
