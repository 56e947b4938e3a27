"""Uploaded clips are probed before decoding, and only the frames generation uses are decoded."""

from __future__ import annotations

import io
import tracemalloc
from typing import Any

import numpy as np
import pytest
import soundfile
import torch

from inference_container.diffrhythm.songs import edit_seconds
from inference_container.diffrhythm.style import clip_window, reference_clip
from shared import keys
from shared.records import FailureRecord, JobRequestRecord
from tests.unit.conftest import BUCKET
from tests.unit.worker.support import job_id_of, queue_job


def _clip(seconds: float, rate: int, channels: int = 1, fmt: str = "FLAC", silent: bool = False) -> bytes:
    """A clip written a minute at a time (so a long one never sits in memory decoded): noise, or silence."""
    out, noise = io.BytesIO(), np.random.default_rng(3)
    with soundfile.SoundFile(out, "w", samplerate=rate, channels=channels, format=fmt) as file:
        left = int(seconds * rate)
        while left:
            frames = min(left, 60 * rate)
            block = np.zeros((frames, channels), np.int16) if silent else \
                noise.integers(-8000, 8000, (frames, channels), dtype=np.int16)
            file.write(block)
            left -= frames
    return out.getvalue()


def _upload(s3, key: str, data: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="audio/flac")
    return key


@pytest.fixture
def reads(monkeypatch) -> list[dict[str, Any]]:
    """Every ``soundfile.read`` call's arguments and the frames it returned."""
    calls: list[dict[str, Any]] = []
    real = soundfile.read

    def recorded(file: Any, **kwargs: Any) -> Any:
        audio, rate = real(file, **kwargs)
        calls.append({**{k: kwargs.get(k) for k in ("start", "frames")}, "decoded": audio.shape[0], "rate": rate})
        return audio, rate

    monkeypatch.setattr(soundfile, "read", recorded)
    return calls


def test_a_30_minute_silent_flac_is_refused_from_its_header_without_decoding(worker, table, s3, sqs, pipeline,
                                                                             monkeypatch):
    data = _clip(30 * 60, 22050, silent=True)
    assert len(data) < 200_000  # a small upload whose samples would take 150 MiB as float32
    message = queue_job(table, s3, reference_audio_key=_upload(s3, "inputs/owner/silence.flac", data))

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the clip was decoded")

    monkeypatch.setattr(soundfile, "read", no_decoding)
    tracemalloc.start()
    try:
        assert worker.handle(message) == "failed"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # a few copies of the upload at most, never its samples
    failure = FailureRecord.model_validate_json(s3.body(keys.failure_key(job_id_of(message))))
    assert failure.code == "invalid_input"
    assert failure.reason == "reference_audio_key: the clip is 1800.0 s long; at most 600 s are accepted"
    assert pipeline.batches == [] and sqs.deleted == [message["ReceiptHandle"]]  # permanent: not retried


@pytest.mark.parametrize(("data", "reason"), [
    (b"RIFF....WAVEfmt not really", "reference_audio_key: the file could not be read as audio"),
    (_clip(4, 16000), "reference_audio_key: the clip is 4.0 s long; at least 10 s are needed"),
])
def test_a_clip_the_probe_refuses_fails_the_job_with_its_plain_reason(worker, table, s3, reads, data, reason):
    message = queue_job(table, s3, reference_audio_key=_upload(s3, "inputs/owner/clip.flac", data))
    assert worker.handle(message) == "failed"
    failure = FailureRecord.model_validate_json(s3.body(keys.failure_key(job_id_of(message))))
    assert failure.code == "invalid_input" and failure.reason.startswith(reason) and reads == []


def _song_request(worker, table, s3, **fields: Any) -> Any:
    message = queue_job(table, s3, **fields)
    stored = JobRequestRecord.model_validate_json(s3.body(keys.request_key(job_id_of(message))))
    return worker.runner.song_request(stored)


def test_a_style_reference_decodes_only_its_middle_ten_seconds_and_embeds_the_same(worker, table, s3, reads):
    data = _clip(120, 16000, channels=2)  # two minutes
    song = _song_request(worker, table, s3, reference_audio_key=_upload(s3, "inputs/owner/long.flac", data))
    audio, rate = song.style_audio
    assert reads == [{"start": (120 - 10) * 16000 // 2, "frames": 10 * 16000, "decoded": 10 * 16000, "rate": 16000}]
    assert audio.shape == (10 * 16000, 2) and rate == 16000
    whole, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    start, count = clip_window(len(whole), rate)
    assert np.array_equal(audio, whole[start:start + count])  # the same samples, exactly (decoded PCM)
    # so what the model sees is unchanged (two resamplings: compared with float32's tolerance, as on any CPU)
    torch.testing.assert_close(reference_clip(audio, rate), reference_clip(whole, rate))


@pytest.mark.parametrize(("seconds", "audio_length"), [(150, 95), (150, 120), (30, 120)])
def test_a_song_to_edit_decodes_at_most_the_length_of_the_new_song(worker, table, s3, reads, seconds, audio_length):
    data = _clip(seconds, 8000)
    key = _upload(s3, "inputs/owner/song.flac", data)
    song = _song_request(worker, table, s3, audio_length=audio_length,
                         edit={"reference_audio_key": key, "segments": [[10, 20]]})
    audio, rate = song.edit_audio
    expected = min(seconds * 8000, int(np.ceil(edit_seconds(audio_length) * 8000)))
    assert expected <= min(seconds, audio_length + 1) * 8000  # the new song's length (95 s: the model's 95.1 s)
    assert audio.shape == (expected, 1) and rate == 8000 and reads[-1]["start"] == 0
    assert reads[-1]["decoded"] == expected
    whole, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert np.array_equal(audio, whole[:expected])
