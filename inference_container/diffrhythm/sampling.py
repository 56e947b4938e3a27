"""Euler sampling of the flow ODE from noise (t = 0) to a latent song (t = 1), and the edit-mode frame masks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from inference_container.diffrhythm.config import LATENT_RATE
from inference_container.diffrhythm.guidance import VelocityFn

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


def segments_to_frames(segments: Sequence[Sequence[float]], max_frames: int) -> list[tuple[int, int]]:
    """Edit segments in seconds (``-1`` = song start or end) -> latent frame ranges, as upstream converts them.

    Example
    -------
    >>> segments_to_frames([[-1, 10], [20, -1]], 2048)
    [(0, 215), (430, 2048)]
    """
    frames = []
    for start, end in segments:
        first = 0 if start == -1 else int(start * LATENT_RATE)
        last = max_frames if end == -1 else int(end * LATENT_RATE)
        frames.append((first, last))
    return frames


def regenerate_mask(
    n: int, frame_segments: Sequence[Sequence[int]], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """[n] bool: True on frames to generate, False on frames kept from the reference latent."""
    index = torch.arange(n, device=device)
    mask = torch.zeros(n, dtype=torch.bool, device=device)
    for start, end in frame_segments:
        mask |= (index >= start) & (index < end)
    return mask


def initial_noise(frames: int, seed: int, channels: int = 64, device: torch.device | str = "cpu") -> torch.Tensor:
    """[frames, channels] standard normal noise from ``seed`` (on the CPU, so every device gets the same noise)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(frames, channels, generator=generator).to(device)
