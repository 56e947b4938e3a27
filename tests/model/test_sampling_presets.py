"""The sampler on a preset's schedule and guidance interval: the grid it runs (uniform: upstream's linspace, bit for
bit; sway: the presets' grid in float32), the rows the DiT sees per update (two per song where guided, one where
not), a remix starting at its schedule's grid point, and the batch key keeping schedules apart. Fast, except the
last test (a whole fast-preset remix on the tiny bundle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference_container.diffrhythm.config import DiTConfig
from inference_container.diffrhythm.guidance import Inpainting
from inference_container.diffrhythm.model import DiT
from inference_container.diffrhythm.pipeline import Pipeline
from inference_container.diffrhythm.sampling import euler, noised, remix_start, sample, time_grid
from shared.presets import PRESETS, Preset, SamplingSettings, Schedule, grid_times
from tests.support.songs import request_for

TINY = {"dim": 64, "depth": 1, "heads": 8, "ff_mult": 2, "text_dim": 512, "conv_layers": 1, "mel_dim": 64,
        "text_num_embeds": 363}
LRC = "[00:01.00]hello world\n[00:05.00]sing it again"
RATE = 44100


class Counting:
    """A DiT that records the rows (batch size) of every forward."""

    def __init__(self, model: DiT) -> None:
        self.model, self.rows = model, []
        self.dtype, self.prepare = model.dtype, model.prepare

    def __call__(self, x: torch.Tensor, *args: object) -> torch.Tensor:
        self.rows.append(x.shape[0])
        return self.model(x, *args)


def _dit() -> DiT:
    torch.manual_seed(0)
    model = DiT(DiTConfig(**TINY, max_frames=2048))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.05)
    return model.eval().requires_grad_(False)


def _sample(model: object, settings: SamplingSettings, rows: int = 2, frames: int = 24, start: int = 0,
            **extra: object) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(rows, frames, 64, generator=g)
    with torch.inference_mode():
        return sample(model, Inpainting.everything(rows, frames, 64), noise,  # type: ignore[arg-type]
                      text=torch.randint(1, 364, (rows, frames), generator=g),
                      style=torch.randn(rows, 512, generator=g),
                      negative_style=torch.randn(rows, 512, generator=g), start_time=torch.zeros(rows), duration=None,
                      steps=settings.steps, cfg_strength=settings.cfg_strength, start=start, **extra)


@pytest.mark.parametrize("steps", [2, 5, 32, 100])
def test_the_uniform_grid_is_upstreams_linspace_bit_for_bit_and_sway_is_the_presets_grid(steps):
    assert torch.equal(time_grid(steps), torch.linspace(0, 1, steps))
    swayed = time_grid(steps, Schedule.SWAY)
    assert torch.equal(swayed, torch.tensor(grid_times(steps, Schedule.SWAY), dtype=torch.float32))
    assert swayed[0] == 0 and swayed[-1] == 1 and bool((swayed.diff() > 0).all())


def test_euler_visits_the_schedules_grid_and_runs_the_conditional_velocity_outside_the_interval():
    settings = PRESETS[Preset.FAST]
    seen: list[tuple[str, float]] = []

    def velocity(name: str):
        return lambda x, t: seen.append((name, float(t))) or torch.ones_like(x)

    out = euler(velocity("guided"), torch.zeros(1, 1, 1), settings.steps, schedule=settings.schedule,
                conditional=velocity("conditional"), guide=settings.guided_updates())
    times = time_grid(settings.steps, Schedule.SWAY).tolist()
    assert [t for _, t in seen] == times[:-1] and out.item() == pytest.approx(1.0)
    assert [name == "guided" for name, _ in seen] == settings.guided_updates()
    with pytest.raises(ValueError, match="one flag per update"):
        euler(velocity("guided"), torch.zeros(1, 1, 1), 5, guide=[True, False, True, True])  # no conditional


@pytest.mark.parametrize("preset", list(Preset))
def test_the_dit_sees_two_rows_per_song_on_guided_updates_and_one_elsewhere(preset):
    settings = PRESETS[preset]
    model = Counting(_dit())
    _sample(model, settings, rows=2, frames=8, schedule=settings.schedule,
            guidance_interval=settings.guidance_interval)
    assert model.rows == [4 if guided else 2 for guided in settings.guided_updates()]
    assert sum(model.rows) == 2 * settings.forward_rows()


def test_the_default_sampler_is_the_original_one_and_an_interval_changes_the_result():
    model = _dit()
    high = PRESETS[Preset.HIGH]
    short = SamplingSettings(6, high.cfg_strength)
    plain = _sample(model, short)
    torch.testing.assert_close(_sample(model, short, schedule=Schedule.UNIFORM, guidance_interval=(0.0, 1.0)), plain,
                               rtol=0, atol=0)
    assert not torch.equal(_sample(model, short, guidance_interval=(0.3, 0.7)), plain)
    assert not torch.equal(_sample(model, short, schedule=Schedule.SWAY), plain)


def test_a_remix_on_a_scheduled_preset_starts_at_its_grids_point_and_is_noised_to_its_time():
    steps = PRESETS[Preset.FAST].steps
    grid = grid_times(steps, Schedule.SWAY)
    for strength in (1.0, 0.8, 0.6, 0.3, 0.05):
        start = remix_start(strength, steps, Schedule.SWAY)
        assert grid[start] >= 1 - strength - 1e-6 or start == steps - 2
        assert start == 0 or grid[start - 1] < 1 - strength - 1e-6
    start = remix_start(0.6, steps, Schedule.SWAY)
    assert start == 9 != remix_start(0.6, steps)  # sway: t = 0.41 (uniform's 0.4 is grid point 6)
    noise, latent = torch.full((1, 2, 3), 2.0), torch.full((1, 2, 3), -1.0)
    t = float(time_grid(steps, Schedule.SWAY)[start])
    torch.testing.assert_close(noised(noise, latent, steps, start, Schedule.SWAY), (1 - t) * noise + t * latent)


def test_requests_share_a_batch_only_with_the_same_schedule_and_interval():
    high, fast, turbo = (request_for(LRC, style_prompt="pop", preset=p) for p in ("high", "fast", "turbo"))
    assert fast.sampling == PRESETS[Preset.FAST] and high.sampling == PRESETS[Preset.HIGH]
    same_steps = request_for(LRC, style_prompt="pop", preset="fast", steps=32, cfg_strength=4.0)  # high's, swayed
    assert len({Pipeline.batch_key(r) for r in (high, fast, turbo, same_steps)}) == 4
    assert Pipeline.batch_key(fast) == Pipeline.batch_key(request_for("", style_prompt="jazz", preset="fast",
                                                                      instrumental=True, seed=9))
    remix = request_for(LRC, style_prompt="pop", preset="fast", remix_audio=(np.zeros((10, 2)), RATE), strength=0.6)
    assert Pipeline.batch_key(remix)[3] == remix_start(0.6, 16, Schedule.SWAY)


@pytest.mark.slow
def test_a_fast_preset_remix_on_the_tiny_bundle_runs_the_rows_left_from_its_grid_point(tiny_pipeline, monkeypatch):
    model = tiny_pipeline.dits["95s"]
    rows: list[int] = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda x, *args: rows.append(x.shape[0]) or forward(x, *args))
    t = np.arange(RATE * 12) / RATE
    source = np.stack([np.sin(2 * np.pi * 220 * t)] * 2, axis=1).astype(np.float32) * 0.3
    request = request_for(LRC, style_prompt="pop", preset="fast", seed=3, batch_size=2, remix_audio=(source, RATE),
                          strength=0.6)
    song = tiny_pipeline.generate(request)
    fast = PRESETS[Preset.FAST]
    start = remix_start(0.6, fast.steps, Schedule.SWAY)
    assert song.metadata["remix"] == {"strength": 0.6, "start_t": round(fast.times()[start], 4),
                                      "steps_run": fast.steps - 1 - start}
    assert sum(rows) == 2 * fast.forward_rows(start) and len(rows) == fast.steps - 1 - start
