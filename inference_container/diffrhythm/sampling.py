"""Euler sampling of the flow ODE from noise (t = 0) to a latent song (t = 1) on a preset's grid (uniform, or sway:
``shared.presets.Schedule``), edit segments in frames, and ``sample``: guidance (on the preset's interval),
inpainting and Euler together (what the pipeline and the golden check run)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from inference_container.diffrhythm.guidance import Inpainting, VelocityFn, branches
from inference_container.diffrhythm.model import DiT
from shared.presets import SamplingSettings, Schedule, grid_times
from shared.timeline import frame_at

StepCallback = Callable[[int, int], None]  # (steps done, steps in all)


def time_grid(steps: int, schedule: Schedule = Schedule.UNIFORM, device: torch.device | str = "cpu") -> torch.Tensor:
    """The sampler's grid, float32: ``torch.linspace(0, 1, steps)`` (upstream's, bit for bit) or, on another schedule,
    ``shared.presets.grid_times`` (the one definition the presets' costs and guidance intervals use) in float32.

    Example
    -------
    >>> time_grid(5).tolist(), [round(t, 4) for t in time_grid(5, Schedule.SWAY).tolist()]
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.0761, 0.2929, 0.6173, 1.0])
    """
    if steps < 2:
        raise ValueError("steps must be at least 2 (the grid includes both ends)")
    if schedule is Schedule.UNIFORM:
        return torch.linspace(0, 1, steps, device=device, dtype=torch.float32)
    return torch.tensor(grid_times(steps, schedule), device=device, dtype=torch.float32)


def euler(velocity: VelocityFn, y0: torch.Tensor, steps: int, callback: StepCallback | None = None,
          start: int = 0, *, schedule: Schedule = Schedule.UNIFORM, conditional: VelocityFn | None = None,
          guide: Sequence[bool] | None = None) -> torch.Tensor:
    """Euler on ``time_grid(steps, schedule)`` (uniform: ``torch.linspace(0, 1, steps)``): ``steps - 1`` updates
    (upstream's ODE solve), or, from grid point ``start`` (a remix's ``y0`` is already at that time), the
    ``steps - 1 - start`` that are left. Update ``i`` runs ``velocity``, or ``conditional`` where ``guide[i]`` is false
    (outside the guidance interval; ``guide``: one flag per update, ``SamplingSettings.guided_updates``).

    Example
    -------
    >>> euler(lambda x, t: torch.ones_like(x), torch.zeros(1, 2, 1), steps=5).flatten().tolist()
    [1.0, 1.0]
    >>> euler(lambda x, t: torch.ones_like(x), torch.zeros(1, 1, 1), steps=5, start=2).item()
    0.5
    >>> euler(lambda x, t: torch.ones_like(x), torch.zeros(1, 1, 1), steps=3, conditional=lambda x, t: 0 * x,
    ...       guide=[True, False]).item()
    0.5
    """
    if steps < 2:
        raise ValueError("steps must be at least 2 (the grid includes both ends)")
    if not 0 <= start < steps - 1:
        raise ValueError(f"start must be a grid point before the last (0..{steps - 2}), got {start}")
    if guide is not None and (len(guide) != steps - 1 or (conditional is None and not all(guide))):
        raise ValueError(f"guide needs one flag per update ({steps - 1}), and a conditional velocity if any is off")
    grid = time_grid(steps, schedule, y0.device)
    x = y0.float()
    for i in range(start, steps - 1):
        step = velocity if guide is None or guide[i] or conditional is None else conditional
        x = x + (grid[i + 1] - grid[i]) * step(x, grid[i]).float()
        if callback is not None:
            callback(i + 1 - start, steps - 1 - start)
    return x


def remix_start(strength: float, steps: int, schedule: Schedule = Schedule.UNIFORM) -> int:
    """The grid point a remix of ``strength`` starts from: the first of ``time_grid(steps, schedule)`` at or after
    ``t0 = 1 - strength`` (to float32's precision), but never the last one, so that at least one step runs (a remix
    is never a copy). Strength 1 starts at 0: every step runs.

    Example
    -------
    >>> [remix_start(strength, 5) for strength in (1.0, 0.75, 0.6, 0.5, 0.01)]
    [0, 1, 2, 2, 3]
    >>> [remix_start(strength, 5, Schedule.SWAY) for strength in (1.0, 0.75, 0.6, 0.5, 0.01)]
    [0, 2, 3, 3, 3]
    """
    grid = time_grid(steps, schedule)
    at_or_after = (grid >= 1.0 - strength - 1e-6).nonzero()
    return min(int(at_or_after[0]), steps - 2)


def noised(noise: torch.Tensor, latent: torch.Tensor, steps: int, start: int,
           schedule: Schedule = Schedule.UNIFORM) -> torch.Tensor:
    """A remix's starting point: ``latent`` (the source song) noised to grid point ``start``'s time ``t`` (on
    ``schedule``'s grid), on the flow's straight path ``(1 - t) * noise + t * latent`` (so the state and the time the
    sampler gives it agree)."""
    t = time_grid(steps, schedule)[start].item()
    return (1.0 - t) * noise.float() + t * latent.float()


def sample(model: DiT, inpainting: Inpainting, noise: torch.Tensor, *, text: torch.Tensor, style: torch.Tensor,
           negative_style: torch.Tensor, start_time: torch.Tensor, duration: torch.Tensor | None, steps: int,
           cfg_strength: float, callback: StepCallback | None = None, start: int = 0,
           schedule: Schedule = Schedule.UNIFORM, guidance_interval: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """Sample latents [b, n, 64] from ``noise`` (at grid point ``start``'s time: a remix's ``noised`` source) on
    ``schedule``'s grid, with guidance on the updates whose time lies in ``guidance_interval`` and the conditional
    branch alone on the others; frames ``inpainting`` keeps come from its reference. The defaults are the original
    sampler (``high``): the uniform grid, guidance on every update."""
    settings = SamplingSettings(steps, cfg_strength, schedule, guidance_interval)
    velocity = branches(model, text=text, cond=inpainting.cond, style=style, negative_style=negative_style,
                        start_time=start_time, duration=duration, cfg_strength=cfg_strength)
    guide = settings.guided_updates()
    return inpainting.finish(euler(velocity.guided, noise, steps, callback, start, schedule=schedule,
                                   conditional=velocity.conditional, guide=None if all(guide) else guide))


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
