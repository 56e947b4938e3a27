"""The lyric check in the pipeline, on the TINY RANDOM bundle (its Whisper and separator are random: the words it hears
are noise, so these tests check the path and the bookkeeping, never the scores' meaning): every sung variation is
separated, transcribed and scored against the lines the model was given; stems' vocals are reused; instrumentals are
not checked; a worker that cannot check refuses ``min_lyrics_accuracy`` before sampling."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference_container.diffrhythm.bundle.reader import Bundle
from inference_container.diffrhythm.lyric_checker import LyricChecker, LyricCheckUnavailable
from inference_container.diffrhythm.outputs import render
from inference_container.lyrics_check import LyricsReport
from tests.support.songs import request_for

LRC = "[00:01.00]hello there my friend\n[00:06.00]under the moon tonight\n[00:12.00]"
SLOW = pytest.mark.slow  # the tiny separator and Whisper over whole 95 s songs


class _Counting:
    """The real separator, counting its calls."""

    def __init__(self, separator: Any) -> None:
        self.separator, self.calls = separator, 0

    def separate(self, audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return self.separator.separate(audio, rate)


@pytest.fixture
def checked(tiny_pipeline, tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> _Counting:
    """The session's tiny pipeline with the bundle's lyric check (and one counting separator for stems and check)."""
    separator = _Counting(tiny_pipeline.separator)
    checker = LyricChecker.load(Bundle(tiny_bundle), tiny_pipeline.separator, "cpu")
    assert checker is not None
    monkeypatch.setattr(checker, "separator", separator)
    monkeypatch.setattr(tiny_pipeline, "separator", separator)
    monkeypatch.setattr(tiny_pipeline, "checker", checker)
    return separator


@SLOW
def test_every_sung_variation_is_checked_against_its_lines_by_the_labelled_tiny_whisper(tiny_pipeline, checked):
    song = tiny_pipeline.generate(request_for(LRC, seed=5, steps=2, style_prompt="pop", batch_size=2))
    assert checked.calls == 2  # one separation per variation
    assert len(song.checks) == 2 and all(isinstance(check, LyricsReport) for check in song.checks)
    sung = [line.text for line in song.lyrics]
    assert sung == ["hello there my friend", "under the moon tonight"]
    for check in song.checks:
        assert [line.expected for line in check.lines] == sung
        assert 0.0 <= check.lyrics_accuracy <= 1.0
        assert all(line.flagged == (line.score < check.flag_below) for line in check.lines)
    assert "TINY RANDOM" in song.metadata["lyric_check"]
    assert song.metadata["lyrics_accuracy"] == [round(c.lyrics_accuracy, 4) for c in song.checks]
    assert song.metadata["timings"]["lyric_check_s"] > 0
    files = {item.name: item for item in render(song)}
    lyrics = json.loads(files["lyrics.json"].data)
    assert [check["index"] for check in lyrics["checks"]] == [0, 1]
    assert all(check["transcriber"] == song.metadata["lyric_check"] for check in lyrics["checks"])
    assert [line["expected"] for line in lyrics["checks"][1]["lines"]] == sung
    assert files["1.wav"].lyrics_accuracy == round(song.checks[1].lyrics_accuracy, 4)


@SLOW
def test_a_song_with_stems_is_checked_on_the_vocals_of_its_stems(tiny_pipeline, checked):
    song = tiny_pipeline.generate(request_for(LRC, seed=5, steps=2, style_prompt="pop", stems=True))
    assert checked.calls == 1 and len(song.stems) == 1 and song.checks[0] is not None


@SLOW
def test_an_instrumental_is_not_checked(tiny_pipeline, checked):
    song = tiny_pipeline.generate(request_for("", seed=5, steps=2, style_prompt="pop", instrumental=True))
    assert checked.calls == 0 and song.checks == [None]
    assert json.loads({i.name: i for i in render(song)}["lyrics.json"].data)["checks"] == []


def test_a_worker_without_a_lyric_check_refuses_a_minimum_and_checks_nothing(tiny_pipeline):
    assert tiny_pipeline.checker is None  # the session's pipeline is loaded without it
    with pytest.raises(LyricCheckUnavailable, match="min_lyrics_accuracy: this server cannot check lyrics"):
        tiny_pipeline.generate(request_for(LRC, steps=2, style_prompt="pop", min_lyrics_accuracy=0.5))
    song = tiny_pipeline.generate(request_for(LRC, steps=2, style_prompt="pop"))
    assert song.checks == [None] and song.metadata["lyric_check"] is None
