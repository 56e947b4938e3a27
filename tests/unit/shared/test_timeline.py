"""The one time line: which model serves a length, how many frames it generates, and the contract's limits."""

from __future__ import annotations

import pytest

from shared.contract import GenerateRequest
from shared.timeline import FULL, LATENT_RATE, MAX_SECONDS, MIN_SECONDS, SHORT, end_frame, variant_for, variant_of


def test_the_short_model_serves_up_to_its_length_and_always_fills_its_window():
    assert variant_for(MIN_SECONDS) is SHORT and variant_for(SHORT.max_seconds + 1) is FULL
    assert end_frame(30) == end_frame(MIN_SECONDS) == SHORT.max_frames == 2048  # upstream's 95 s window


def test_the_full_model_generates_the_songs_length_up_to_its_window():
    assert end_frame(96) == int(96 * LATENT_RATE) == 2067
    assert end_frame(MAX_SECONDS) == 6136 < FULL.max_frames == 6144
    assert FULL.end_frame(1000) == FULL.max_frames


def test_a_window_no_published_model_has_is_refused():
    assert variant_of(6144) is FULL
    with pytest.raises(ValueError, match="2048 \\(95s\\), 6144 \\(full\\)"):
        variant_of(4096)


def test_the_contract_takes_its_length_limits_from_the_time_line():
    length = GenerateRequest.model_json_schema()["properties"]["audio_length"]
    assert (length["minimum"], length["maximum"], length["default"]) == (MIN_SECONDS, MAX_SECONDS, MIN_SECONDS)
