"""Euler sampling of the flow ODE from noise (t = 0) to a latent song (t = 1), edit segments in frames, and
``sample``: guidance, inpainting and Euler together (what the pipeline and the golden check run)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from inference_container.diffrhythm.guidance import Inpainting, VelocityFn, guided
from inference_container.diffrhythm.model import DiT
from shared.timeline import frame_at

StepCallback = Callable[[int, int], None]  # (steps done, steps in all)


def euler(velocity: VelocityFn, y0: torch.Tensor, steps: int, callback: StepCallback | None = None) -> torch.Tensor:
    """Euler on ``torch.linspace(0, 1, steps)``: ``steps - 1`` updates (upstream's ODE solve).

    Example
    -------
    >>> euler(lambda x, t: torch.ones_like(x), torch.zeros(1, 2, 1), steps=5).flatten().tolist()
    [1.0, 1.0]
    """
    if steps < 2:
        raise ValueError("steps must be at least 2 (the grid includes both ends)")
    grid = torch.linspace(0, 1, steps, device=y0.device, dtype=torch.float32)
    x = y0.float()
    for i in range(steps - 1):
        x = x + (grid[i + 1] - grid[i]) * velocity(x, grid[i]).float()
        if callback is not None:
            callback(i + 1, steps - 1)
    return x


def sample(model: DiT, inpainting: Inpainting, noise: torch.Tensor, *, text: torch.Tensor, style: torch.Tensor,
           negative_style: torch.Tensor, start_time: torch.Tensor, duration: torch.Tensor | None, steps: int,
           cfg_strength: float, callback: StepCallback | None = None) -> torch.Tensor:
    """Sample latents [b, n, 64] from ``noise`` with guidance; frames ``inpainting`` keeps come from its reference."""
    velocity = guided(model, text=text, cond=inpainting.cond, style=style, negative_style=negative_style,
                      start_time=start_time, duration=duration, cfg_strength=cfg_strength)
    return inpainting.finish(euler(velocity, noise, steps, callback))


def segments_to_frames(segments: Sequence[Sequence[float]], max_frames: int) -> list[tuple[int, int]]:
    """Edit segments in seconds (``-1`` = song start or end) -> latent frame ranges, as upstream converts them.

    Example
    -------
    >>> segments_to_frames([[-1, 10], [20, -1]], max_frames=1000)
    [(0, 215), (430, 1000)]
    """
    return [(0 if start == -1 else frame_at(start), max_frames if end == -1 else frame_at(end))
            for start, end in segments]


def initial_noise(frames: int, seed: int, channels: int = 64, device: torch.device | str = "cpu") -> torch.Tensor:
    """[frames, channels] standard normal noise from ``seed`` (on the CPU, so every device gets the same noise)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(frames, channels, generator=generator).to(device)
