"""The presets' sampling settings: the six original ones exactly as before (uniform grid, guidance on every update,
the same cost units), the fast ones' sway grid, guidance interval and DiT rows per song, and the contract's names."""

from __future__ import annotations

import itertools
import math

import pytest
from pydantic import ValidationError

from shared.contract import FRONTEND_EXAMPLE, GenerateRequest
from shared.presets import PRESETS, Preset, SamplingSettings, Schedule, grid_times, sway

ORIGINAL = {Preset.PREVIEW: (4, 2.0), Preset.DRAFT: (8, 2.5), Preset.STANDARD: (16, 3.0), Preset.HIGH: (32, 4.0),
            Preset.MAXIMUM: (64, 5.0), Preset.ULTRA: (100, 6.0)}
ROWS = {Preset.PREVIEW: 6, Preset.DRAFT: 14, Preset.STANDARD: 30, Preset.HIGH: 62, Preset.MAXIMUM: 126,
        Preset.ULTRA: 198, Preset.FAST: 20, Preset.TURBO: 9}  # DiT rows per song: updates, plus one per guided update


def test_the_six_original_presets_are_exactly_as_before():
    for preset, (steps, cfg) in ORIGINAL.items():
        assert PRESETS[preset] == SamplingSettings(steps, cfg, Schedule.UNIFORM, (0.0, 1.0))
        assert PRESETS[preset].guided_updates() == [True] * (steps - 1)


@pytest.mark.parametrize("preset", list(Preset))
def test_every_presets_dit_rows_per_song(preset):
    assert PRESETS[preset].forward_rows() == ROWS[preset]


def test_the_fast_preset_costs_at_most_a_third_of_highs_forwards():
    high = PRESETS[Preset.HIGH].forward_rows()
    assert high == 31 * 2
    assert PRESETS[Preset.FAST].forward_rows() * 3 <= high and PRESETS[Preset.TURBO].forward_rows() * 3 <= high
    assert PRESETS[Preset.FAST].schedule is PRESETS[Preset.TURBO].schedule is Schedule.SWAY


@pytest.mark.parametrize("schedule", list(Schedule))
@pytest.mark.parametrize("steps", [2, 3, 8, 16, 32, 100])
def test_a_grid_rises_from_zero_to_one(schedule, steps):
    times = grid_times(steps, schedule)
    assert len(times) == steps and times[0] == 0.0 and times[-1] == 1.0
    assert all(a < b for a, b in itertools.pairwise(times))


def test_sway_puts_more_of_its_steps_near_the_noise():
    uniform, swayed = grid_times(16, Schedule.UNIFORM), grid_times(16, Schedule.SWAY)
    assert all(s <= u for s, u in zip(swayed, uniform, strict=True))  # every point earlier (s = -1)
    assert sum(t < 0.5 for t in swayed) > sum(t < 0.5 for t in uniform)
    assert swayed[1] - swayed[0] < swayed[-1] - swayed[-2]  # short steps first, long steps last
    u = 0.3  # the formula, s = -1: t = 1 - cos(pi/2 u); s = 0: the uniform grid
    assert sway(u) == pytest.approx(1 - math.cos(math.pi / 2 * u)) and sway(u, s=0.0) == u


def test_guidance_applies_only_on_its_interval_and_never_when_it_is_off():
    settings = SamplingSettings(11, 4.0, Schedule.UNIFORM, (0.25, 0.55))  # t = 0, 0.1, ... 0.9 at the updates
    assert settings.guided_updates() == [False, False, False, True, True, True, False, False, False, False]
    assert settings.forward_rows() == 13 and settings.forward_rows(start=5) == 6 and settings.in_interval() == 3
    off = SamplingSettings(11, 0.0, Schedule.UNIFORM, (0.25, 0.55))
    assert not any(off.guided_updates()) and off.forward_rows() == 10 and off.in_interval() == 3
    fast = PRESETS[Preset.FAST]
    lo, hi = fast.guidance_interval
    times = fast.times()[:-1]
    assert [lo <= t <= hi for t in times] == fast.guided_updates() and sum(fast.guided_updates()) == 5


def _request(**fields: object) -> GenerateRequest:
    return GenerateRequest(**{**FRONTEND_EXAMPLE, **fields})


@pytest.mark.parametrize("name", ["fast", "turbo"])
def test_the_contract_accepts_the_fast_presets_and_resolves_their_schedule(name):
    sampling = _request(preset=name).sampling()
    assert sampling == PRESETS[Preset(name)]
    overridden = _request(preset=name, steps=24, cfg_strength=3.0).sampling()  # the schedule applies to 24 steps
    assert overridden == SamplingSettings(24, 3.0, Schedule.SWAY, PRESETS[Preset(name)].guidance_interval)


def test_an_unknown_preset_is_refused():
    with pytest.raises(ValidationError) as refused:
        _request(preset="fastest")
    assert refused.value.errors()[0]["loc"] == ("preset",)


def _old_units(request: GenerateRequest) -> int:
    """Cost units as they were before the fast presets: seconds x steps x variations over the default job's."""
    return max(1, -(-(request.audio_length * request.sampling().steps * request.variations) // (95 * 32)))


@pytest.mark.parametrize("preset", list(ORIGINAL))
@pytest.mark.parametrize(("seconds", "variations", "steps", "cfg"),
                         [(95, 1, None, None), (96, 1, None, None), (285, 4, None, None), (190, 3, 37, 0.0),
                          (120, 2, 2, None), (285, 4, 100, 7.0)])
def test_the_original_presets_cost_what_they_did(preset, seconds, variations, steps, cfg):
    request = _request(preset=preset.value, audio_length=seconds, batch_size=variations, steps=steps,
                       cfg_strength=cfg)
    assert request.cost_units() == _old_units(request)


def test_the_fast_presets_cost_their_share_of_forwards():
    assert _request(preset="fast").cost_units() == _request(preset="turbo").cost_units() == 1
    assert _request(preset="fast", audio_length=285, batch_size=4).cost_units() == 4  # 3 x 16/32 x 20/30 x 4 = 4
    assert _request(preset="turbo", audio_length=285, batch_size=4).cost_units() == 2  # 3 x 8/32 x 9/14 x 4 = 1.93
    assert _request(preset="high", audio_length=285, batch_size=4).cost_units() == 12
