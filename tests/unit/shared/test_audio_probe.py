"""The upload probe: a clip's header read without decoding, and the service's limits on clips."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pytest
import soundfile

from shared.audio_probe import (
    MAX_DURATION_S,
    MIN_DURATION_S,
    ClipInfo,
    ClipRefused,
    check_clip,
    probe,
)


def encode(seconds: float, rate: int = 16_000, channels: int = 1, fmt: str = "FLAC") -> bytes:
    """``seconds`` of silence (FLAC/WAV) or of a quiet tone, written a minute at a time."""
    buffer = io.BytesIO()
    with soundfile.SoundFile(buffer, "w", rate, channels, format=fmt, subtype="PCM_16") as sound:
        remaining = int(seconds * rate)
        while remaining:
            block = min(remaining, 60 * rate)
            sound.write(np.zeros((block, channels), dtype=np.int16))
            remaining -= block
    return buffer.getvalue()


def test_a_long_silent_flac_is_refused_from_its_header_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(30 * 60)  # 30 minutes of silence
    assert len(data) < 256 * 1024  # small on the wire, 110 MiB as float32 samples

    def no_decoding(*_: Any, **__: Any) -> None:
        raise AssertionError("probe decoded samples")

    monkeypatch.setattr(soundfile.SoundFile, "read", no_decoding)
    monkeypatch.setattr(soundfile.SoundFile, "buffer_read", no_decoding)
    started = time.perf_counter()
    info = probe(data)
    assert time.perf_counter() - started < 0.5
    assert info == ClipInfo(duration_s=1800.0, channels=1, sample_rate=16_000, format="FLAC")
    with pytest.raises(ClipRefused, match=f"1800.0 s long; at most {MAX_DURATION_S:g} s"):
        check_clip(info)


def test_a_good_clip_is_accepted_from_bytes_a_file_object_and_a_path(tmp_path: Any) -> None:
    data = encode(12, rate=44_100, channels=2, fmt="WAV")
    path = tmp_path / "clip.wav"
    path.write_bytes(data)
    expected = ClipInfo(duration_s=12.0, channels=2, sample_rate=44_100, format="WAV")
    assert probe(data) == probe(io.BytesIO(data)) == probe(path) == probe(str(path)) == expected
    check_clip(expected)


@pytest.mark.parametrize(("info", "reason"), [
    (ClipInfo(20.0, 3, 44_100, "WAV"), "3 channels; only mono or stereo"),
    (ClipInfo(20.0, 0, 44_100, "WAV"), "0 channels"),
    (ClipInfo(20.0, 2, 4_000, "WAV"), "4000 Hz; 8000..192000 Hz"),
    (ClipInfo(20.0, 2, 384_000, "FLAC"), "384000 Hz"),
    (ClipInfo(MIN_DURATION_S - 0.5, 2, 44_100, "MP3"), f"9.5 s long; at least {MIN_DURATION_S:g} s"),
    (ClipInfo(MAX_DURATION_S + 1, 2, 44_100, "OGG"), "601.0 s long"),
    (ClipInfo(0.0, 2, 44_100, "FLAC"), "length cannot be read"),
    (ClipInfo(20.0, 2, 44_100, "AIFF"), "AIFF files are not accepted"),
])
def test_clips_outside_the_limits_are_refused_with_a_plain_reason(info: ClipInfo, reason: str) -> None:
    with pytest.raises(ClipRefused, match=reason) as refused:
        check_clip(info)
    assert refused.value.reason == str(refused.value)


@pytest.mark.parametrize("seconds", [MIN_DURATION_S, MAX_DURATION_S])
def test_the_limits_themselves_are_accepted(seconds: float) -> None:
    check_clip(ClipInfo(seconds, 1, 8_000, "WAVEX"))
    check_clip(ClipInfo(seconds, 2, 192_000, "FLAC"))


def test_a_three_channel_file_is_refused() -> None:
    info = probe(encode(12, channels=3, fmt="WAV"))
    assert info.channels == 3
    with pytest.raises(ClipRefused, match="3 channels"):
        check_clip(info)


def test_a_flac_whose_header_gives_no_length_is_refused() -> None:
    data = bytearray(encode(12))
    data[8 + 13] &= 0xF0  # STREAMINFO's 36-bit total sample count (after "fLaC" and the block header) = 0: unknown
    data[8 + 14:8 + 18] = bytes(4)
    info = probe(bytes(data))
    assert info.duration_s == 0.0
    with pytest.raises(ClipRefused, match="length cannot be read"):
        check_clip(info)


@pytest.mark.parametrize("data", [b"", b"not audio at all" * 64, b"fLaC" + bytes(60), b"RIFF\x00\x00"])
def test_what_libsndfile_cannot_read_is_refused_without_library_text(data: bytes) -> None:
    with pytest.raises(ClipRefused) as refused:
        probe(data)
    assert refused.value.reason == "the file could not be read as audio (WAV, FLAC, Ogg or MP3)"
