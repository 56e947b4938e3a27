"""The model commands end to end: make-test-weights, generate (MP3 of the requested length); fetch-weights is in
test_fetch_weights.py."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
import soundfile

CLI = [sys.executable, "-m", "infrastructure.cli"]


@pytest.mark.slow
def test_generate_writes_a_95_s_stereo_44k_mp3_with_metadata(tiny_bundle, tmp_path):
    lyrics = tmp_path / "song.lrc"
    lyrics.write_text("[00:01.00]Hello world\n[00:08.00]Sing along\n[00:20.00]The end\n", encoding="utf-8")
    out = tmp_path / "song.mp3"
    result = subprocess.run([*CLI, "generate", "--weights", str(tiny_bundle), "--lyrics", str(lyrics), "--style",
                             "pop, upbeat", "--length", "95", "--seed", "7", "--preset", "preview", "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "TINY RANDOM TEST MODEL" in result.stdout
    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels) == (44100, 2) and abs(info.duration - 95.1) < 0.1
    metadata = json.loads(out.with_suffix(".json").read_text())
    assert metadata["seed"] == 7 and metadata["steps"] == 4 and metadata["model"].startswith("TINY RANDOM")
    assert json.loads((tmp_path / "song.0.peaks.json").read_text())["duration_s"] == pytest.approx(95.1, abs=0.1)


@pytest.mark.slow
def test_generate_rejects_a_short_reference_clip_with_a_clear_error(tiny_bundle, tmp_path):
    import numpy as np

    clip = tmp_path / "ref.wav"
    soundfile.write(str(clip), np.zeros((44100 * 3, 2), dtype=np.float32), 44100)
    lyrics = tmp_path / "song.lrc"
    lyrics.write_text("[00:01.00]Hello\n[00:05.00]end\n", encoding="utf-8")
    result = subprocess.run([*CLI, "generate", "--weights", str(tiny_bundle), "--lyrics", str(lyrics),
                             "--style-audio", str(clip), "-o", str(tmp_path / "x.wav")], capture_output=True, text=True)
    assert result.returncode != 0 and "at least 10 s" in result.stderr


@pytest.mark.slow
def test_generate_times_section_tags_ranks_best_of_and_writes_stems_lyrics_and_tags(tiny_bundle, tmp_path):
    from mutagen.wave import WAVE

    lyrics = tmp_path / "song.txt"
    lyrics.write_text("[verse]\nHello world tonight\nSing along with me\n[chorus]\nThe end is near\n", encoding="utf-8")
    out = tmp_path / "song.wav"
    result = subprocess.run([*CLI, "generate", "--weights", str(tiny_bundle), "--lyrics", str(lyrics), "--bpm", "120",
                             "--style", "pop", "--best-of", "2", "--stems", "--title", "Night Drive", "--preset",
                             "preview", "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "timed at 120 bpm" in result.stdout and result.stdout.count("(score ") == 2
    for name in ("song.wav", "song_1.wav", "song.0.vocals.wav", "song.1.accompaniment.wav", "song.lyrics.lrc"):
        assert (tmp_path / name).is_file(), name
    lines = json.loads((tmp_path / "song.lyrics.json").read_text())["lines"]
    sung = [line["text"] for line in lines if line["text"]]
    assert sung == ["Hello world tonight", "Sing along with me", "The end is near"]
    assert all(a["end_s"] <= b["start_s"] for a, b in itertools.pairwise(lines))
    scores = json.loads(out.with_suffix(".json").read_text())["scores"]
    assert scores == sorted(scores, reverse=True)
    assert str(WAVE(out).tags["TIT2"]) == "Night Drive"


@pytest.mark.slow
def test_generate_an_instrumental_without_lyrics(tiny_bundle, tmp_path):
    out = tmp_path / "song.flac"
    result = subprocess.run([*CLI, "generate", "--weights", str(tiny_bundle), "--instrumental", "--style", "lofi",
                             "--preset", "preview", "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "song.lyrics.json").read_text())["lines"] == []
    assert json.loads(out.with_suffix(".json").read_text())["instrumental"] is True
    refused = subprocess.run([*CLI, "generate", "--weights", str(tiny_bundle), "--style", "lofi", "-o", str(out)],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "--instrumental" in refused.stderr
