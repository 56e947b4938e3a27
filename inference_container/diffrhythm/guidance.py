"""Classifier-free guidance around the DiT (the conditional and unconditional branches run as ONE batch), and
inpainting (edit mode: the frames to keep come from a reference latent).

Conditional: reference latent, lyrics and the style. Unconditional: no reference latent, no lyrics (all filler) and the
negative style. ``v = v_cond + (v_cond - v_uncond) * cfg_strength``, mixed in float32 whatever the model's precision
(a strength of 4 would multiply a half-precision difference's rounding by 4). Outside a preset's guidance interval an
update runs the conditional branch alone (``Branches.conditional``: half the rows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from inference_container.diffrhythm.model import DiT, Prepared

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Inpainting:
    """Which frames to generate and what to keep elsewhere: ``reference`` [b, n, 64], ``regenerate`` [b, n] bool.

    While sampling, the DiT sees the reference with the regenerated frames zeroed (``cond``); afterwards the kept
    frames are copied back from the reference (``finish``). Rows that regenerate everything are plain generation.
    """

    reference: torch.Tensor
    regenerate: torch.Tensor

    @classmethod
    def everything(cls, rows: int, frames: int, channels: int, device: torch.device | str = "cpu") -> Inpainting:
        """No reference: every frame of every row is generated."""
        return cls(torch.zeros(rows, frames, channels, device=device),
                   torch.ones(rows, frames, dtype=torch.bool, device=device))

    @classmethod
    def segments(cls, reference: torch.Tensor, frame_segments: Sequence[Sequence[int]]) -> Inpainting:
        """Regenerate ``frame_segments`` (``[(start, end), ...]``, end excluded) of ``reference`` [b, n, 64], keep
        the rest.

        Example
        -------
        >>> Inpainting.segments(torch.zeros(1, 5, 2), [(1, 3)]).regenerate.tolist()
        [[False, True, True, False, False]]
        """
        index = torch.arange(reference.shape[1], device=reference.device)
        regenerate = torch.zeros(reference.shape[1], dtype=torch.bool, device=reference.device)
        for start, end in frame_segments:
            regenerate |= (index >= start) & (index < end)
        return cls(reference, regenerate.expand(reference.shape[0], -1))

    @property
    def cond(self) -> torch.Tensor:
        """The reference latent the DiT is conditioned on while sampling."""
        return torch.where(self.regenerate[..., None], torch.zeros_like(self.reference), self.reference)

    def finish(self, latent: torch.Tensor) -> torch.Tensor:
        """The sampled latent with the kept frames taken from the reference (float32)."""
        return torch.where(self.regenerate[..., None], latent.float(), self.reference.float())


def _half(prepared: Prepared, first: bool) -> Prepared:
    def pick(t: torch.Tensor) -> torch.Tensor:
        return t.chunk(2)[0 if first else 1]

    return Prepared(pick(prepared.text), tuple(pick(r) for r in prepared.residuals), pick(prepared.c_static))


@dataclass(frozen=True)
class Branches:
    """The two velocity functions ``(x [b, n, 64], t) -> v`` of one song batch, sharing their prepared conditioning:
    ``guided`` (both branches as one batch of ``2b`` rows, mixed with ``cfg_strength``; the conditional branch alone
    when guidance is off) and ``conditional`` (``b`` rows: what an update outside the guidance interval runs)."""

    guided: VelocityFn
    conditional: VelocityFn


def branches(model: DiT, *, text: torch.Tensor, cond: torch.Tensor, style: torch.Tensor, negative_style: torch.Tensor,
             start_time: torch.Tensor, duration: torch.Tensor | None, cfg_strength: float) -> Branches:
    """The guided and the conditional velocity; step-invariant parts are computed here once, for both.

    ``text`` [b, n] lyric tokens, ``cond`` [b, n, 64] reference latent as the DiT sees it (zeros outside edit mode;
    ``Inpainting.cond`` in edit mode), ``style`` and ``negative_style`` [b, 512], ``start_time`` and ``duration`` [b]
    normalised.
    """
    dtype = model.dtype
    duration2 = torch.cat((duration, duration)) if duration is not None else None
    prepared = model.prepare(torch.cat((text, torch.zeros_like(text))), torch.cat((start_time, start_time)), duration2)
    cond2 = torch.cat((cond, torch.zeros_like(cond))).to(dtype)
    style2 = torch.cat((style, negative_style)).to(dtype)
    conditional_prepared = _half(prepared, first=True)

    def conditional(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return model(x.to(dtype), cond2.chunk(2)[0], style2.chunk(2)[0], t, conditional_prepared)

    if cfg_strength < 1e-5:  # guidance off: the conditional branch alone
        return Branches(conditional, conditional)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        x = x.to(dtype)
        v_cond, v_uncond = model(torch.cat((x, x)), cond2, style2, t, prepared).float().chunk(2)
        return v_cond + (v_cond - v_uncond) * cfg_strength  # in float32: the strength amplifies rounding

    return Branches(velocity, conditional)


def guided(model: DiT, *, text: torch.Tensor, cond: torch.Tensor, style: torch.Tensor, negative_style: torch.Tensor,
           start_time: torch.Tensor, duration: torch.Tensor | None, cfg_strength: float) -> VelocityFn:
    """A velocity function ``(x [b, n, 64], t) -> v`` with guidance on every call (``branches(...).guided``)."""
    return branches(model, text=text, cond=cond, style=style, negative_style=negative_style, start_time=start_time,
                    duration=duration, cfg_strength=cfg_strength).guided
