"""Provenance tags: every WAV, FLAC and MP3 says it is AI-generated, with its title, model, seed and job id, and the
tags leave the audio untouched."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime

import mutagen
import numpy as np
import pytest
import soundfile

from inference_container.audio import Provenance, encode
from shared.formats import OutputFormat

RATE = 44100
JOB = "0f9c2d4e-5b6a-4c3d-8e7f-123456789abc"
COMMENT = f"AI-generated with DiffRhythm (model diffrhythm-full, seed 1234, job {JOB})"


def _stereo(seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.stack([0.4 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 330 * t)], axis=1).astype(np.float32)


def _tags(data: bytes) -> dict[str, str]:
    """The provenance values mutagen reads back, under the same names whatever the format."""
    song = mutagen.File(io.BytesIO(data))
    assert song is not None and song.tags is not None
    if isinstance(song.tags, mutagen.id3.ID3):
        assert song.tags.version[:2] == (2, 3)  # the ID3 version every player reads
        frames = {"title": "TIT2", "comment": "COMM::eng", "software": "TSSE", "date": "TDRC",
                  "model": "TXXX:DIFFRHYTHM_MODEL", "seed": "TXXX:DIFFRHYTHM_SEED", "job_id": "TXXX:DIFFRHYTHM_JOB_ID"}
        return {key: str(song.tags[frame].text[0]) for key, frame in frames.items() if frame in song.tags}
    comments = {"title": "TITLE", "comment": "COMMENT", "description": "DESCRIPTION", "software": "ENCODER",
                "date": "DATE", "model": "DIFFRHYTHM_MODEL", "seed": "DIFFRHYTHM_SEED", "job_id": "DIFFRHYTHM_JOB_ID"}
    values = {key: song.tags[name] for key, name in comments.items() if name in song.tags}
    assert all(len(value) == 1 for value in values.values()), values
    return {key: value[0] for key, value in values.items()}


def _samples(data: bytes) -> tuple[np.ndarray, int]:
    audio, rate = soundfile.read(io.BytesIO(data), dtype="int16")
    return audio, rate


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_carries_title_ai_comment_model_seed_and_job_id_and_the_same_audio(fmt):
    audio = _stereo()
    provenance = Provenance("Night Drive", "diffrhythm-full", 1234, JOB, datetime(2025, 3, 4, 12, 30, tzinfo=UTC))
    plain, data = encode(audio, RATE, fmt), encode(audio, RATE, fmt, provenance)

    expected = {"title": "Night Drive", "comment": COMMENT, "software": "DiffRhythm service", "date": "2025-03-04",
                "model": "diffrhythm-full", "seed": "1234", "job_id": JOB}
    if fmt is OutputFormat.FLAC:
        expected["description"] = COMMENT
    assert _tags(data) == expected
    tagged_audio, rate = _samples(data)
    plain_audio, plain_rate = _samples(plain)
    assert rate == plain_rate == RATE and tagged_audio.shape == plain_audio.shape and tagged_audio.shape[1] == 2
    np.testing.assert_array_equal(tagged_audio, plain_audio)
    assert soundfile.info(io.BytesIO(data)).format == soundfile.info(io.BytesIO(plain)).format
    assert encode(audio, RATE, fmt, provenance) == data  # deterministic: a retried job writes the same bytes


def test_wav_also_has_a_riff_info_chunk_that_libsndfile_reads():
    data = encode(_stereo(), RATE, "wav", Provenance("Night Drive", "diffrhythm-full", 1234, JOB,
                                                     datetime(2025, 3, 4, tzinfo=UTC)))
    assert data[:4] == b"RIFF" and struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert data.index(b"LIST") < data.index(b"INFO") < data.index(b"data")  # before the audio: read when streaming
    with soundfile.SoundFile(io.BytesIO(data)) as song:  # INAM, ICMT, ISFT, ICRD
        assert (song.title, song.comment, song.software, song.date) == (
            "Night Drive", COMMENT, "DiffRhythm service", "2025-03-04")


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_a_hostile_title_is_cleaned_and_trimmed_and_non_latin_text_round_trips(fmt):
    hostile = "  流行歌曲 ✨\n\x00\x07\u202e\tnight\r\n" + "a" * 10_000
    data = encode(_stereo(), RATE, fmt, Provenance(hostile, "diffrhythm-base\n", 7, JOB))
    np.testing.assert_array_equal(_samples(data)[0], _samples(encode(_stereo(), RATE, fmt))[0])
    tags = _tags(data)
    assert tags["title"] == ("流行歌曲 ✨ night " + "a" * 200)[:199] + "…" and len(tags["title"]) == 200
    assert tags["model"] == "diffrhythm-base" and tags["seed"] == "7" and "date" not in tags
    if fmt is OutputFormat.WAV:
        with soundfile.SoundFile(io.BytesIO(data)) as song:
            assert song.title == tags["title"]


@pytest.mark.parametrize("title", [None, "", " \n\x00\x1b "])
def test_a_missing_or_empty_title_becomes_diffrhythm_song_and_the_job_id_prefix(title):
    data = encode(_stereo(), RATE, "mp3", Provenance(title, "diffrhythm-full", 1234, JOB))
    assert _tags(data)["title"] == "DiffRhythm song 0f9c2d4e"


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_without_provenance_the_bytes_are_what_they_were_before(fmt):
    audio = _stereo()
    container, subtype = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "mp3": ("MP3", "MPEG_LAYER_III")}[fmt]
    before = io.BytesIO()
    soundfile.write(before, audio, RATE, format=container, subtype=subtype)  # encode() as it was, untagged
    data = encode(audio, RATE, fmt)
    assert data == before.getvalue()
    song = mutagen.File(io.BytesIO(data))
    assert song is not None and not song.tags
