"""Post-processing: quality checks, normalisation, mastering to -14 LUFS under -1 dBTP, encoding, peaks."""

from __future__ import annotations

import io
import json

import numpy as np
import pyloudnorm
import pytest
import soundfile

from inference_container.audio import (
    AudioQualityError,
    check_audio,
    encode,
    master,
    peak_normalize,
    true_peak_dbtp,
    waveform_peaks,
)
from shared.formats import OutputFormat

RATE = 44100


def _music(seconds: float = 12.0, seed: int = 0) -> np.ndarray:
    """A crude song-like signal: chords with a beat and noise, with loud transients."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220, 277, 330, 440))
    beat = (np.sin(2 * np.pi * 2 * t) > 0.95) * rng.normal(0, 1, t.shape)
    left = 0.05 * tone + 0.3 * beat + 0.01 * rng.normal(0, 1, t.shape)
    return np.stack([left, np.roll(left, 100)], axis=1).astype(np.float32)


def test_silence_and_non_finite_audio_are_refused_with_a_reason():
    with pytest.raises(AudioQualityError, match="silent"):
        check_audio(np.full((RATE, 2), 1e-5, dtype=np.float32))
    broken = _music(1)
    broken[10, 0] = np.nan
    with pytest.raises(AudioQualityError, match="NaN"):
        check_audio(broken)
    check_audio(_music(1))


@pytest.mark.parametrize("level", [pytest.param(0.01, marks=pytest.mark.slow), 0.5,
                                   pytest.param(3.0, marks=pytest.mark.slow)])
def test_mastering_reaches_minus_14_lufs_within_half_a_lu_under_minus_1_dbtp(level):
    mastered = master(_music(6.0) * level, RATE, "balanced")
    loudness = pyloudnorm.Meter(RATE).integrated_loudness(mastered)
    assert abs(loudness - (-14.0)) <= 0.5, loudness
    assert true_peak_dbtp(mastered) <= -1.0


@pytest.mark.slow
def test_other_presets_have_their_own_targets():
    for preset, lufs in (("broadcast", -23.0), ("loud", -11.0), ("subtle", -16.0)):
        loudness = pyloudnorm.Meter(RATE).integrated_loudness(master(_music(), RATE, preset))
        assert abs(loudness - lufs) <= 0.5, (preset, loudness)


def test_peak_normalize_matches_upstream():
    out = peak_normalize(_music() * 0.2)
    assert abs(float(np.max(np.abs(out))) - 1.0) < 1e-6


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_output_format_encodes_a_file_that_reads_back_with_the_right_duration_rate_and_channels(fmt):
    audio = peak_normalize(_music(5.0))
    data = encode(audio, RATE, fmt)
    back, rate = soundfile.read(io.BytesIO(data))
    assert rate == RATE and back.shape[1] == 2
    assert abs(back.shape[0] / RATE - 5.0) < 0.06  # MP3 frames pad a little
    assert soundfile.info(io.BytesIO(data)).format == {"wav": "WAV", "flac": "FLAC", "mp3": "MP3"}[fmt.value]


def test_waveform_peaks_are_small_json():
    peaks = waveform_peaks(_music(3.0), RATE, buckets=100)
    assert peaks["buckets"] == 100 and len(peaks["max"]) == 100 and peaks["duration_s"] == 3.0
    assert all(lo <= hi for lo, hi in zip(peaks["min"], peaks["max"], strict=True))
    assert len(json.dumps(peaks)) < 4000
