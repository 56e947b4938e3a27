"""Where each sung line was placed (``LyricTokens.lines``, the lyric timings returned with a song) and instrumental
token sequences, with the toy tokenizer of test_lyrics (the G2P is tested on its own)."""

from __future__ import annotations

import pytest
import torch

from inference_container.diffrhythm.lyrics import PERIOD, LyricTokens, PlacedLine, lyric_tokens
from shared.timeline import LATENT_RATE, frame_at
from tests.model.test_lyrics import Letters


def _line(text: str, start: int, end: int) -> PlacedLine:
    """A line placed from frame ``start`` to frame ``end`` (excluded)."""
    return PlacedLine(text, start / LATENT_RATE, end / LATENT_RATE)


def _frames(seconds: float) -> int:
    return round(seconds * LATENT_RATE)


def _assert_lines_match_tokens(song: LyricTokens) -> None:
    """The lines cover exactly the frames that carry tokens, in order, never overlapping, within the song."""
    covered = torch.zeros(song.end_frame, dtype=torch.bool)
    previous_end = 0
    for line in song.lines:
        start, end = _frames(line.start_s), _frames(line.end_s)
        assert previous_end <= start < end <= song.end_frame
        assert not covered[start:end].any()
        covered[start:end] = True
        previous_end = end
    assert torch.equal(covered, song.tokens != 0)


def test_a_line_timed_before_the_previous_one_ends_starts_at_its_end():
    song = lyric_tokens("[00:01.00]abcdefghij\n[00:01.10]xy\n[00:30.00]end", 120, Letters())
    first = frame_at(1.0)  # 10 letters and the closing period: 11 frames
    assert song.lines == (_line("abcdefghij", first, first + 11), _line("xy", first + 11, first + 14),
                          _line("end", frame_at(30.0), frame_at(30.0) + 4))
    assert frame_at(1.1) < first + 11  # the second line was shifted
    _assert_lines_match_tokens(song)


def test_lines_after_the_end_and_the_short_models_last_line_are_not_listed():
    song = lyric_tokens("[00:01.00]ab\n[00:05.00]cd\n[01:40.00]late", 95, Letters())
    assert song.lines == (_line("ab", frame_at(1.0), frame_at(1.0) + 3),)
    assert any("at or after 95 s were dropped" in w for w in song.warnings)
    assert any("does not sing the last line ('cd')" in w for w in song.warnings)
    _assert_lines_match_tokens(song)


def test_an_empty_end_marker_keeps_the_short_models_last_sung_line():
    song = lyric_tokens("[00:01.00]ab\n[00:03.00]...\n[00:05.00]cd\n[00:50.00]", 95, Letters())
    assert [line.text for line in song.lines] == ["ab", "cd"]  # "..." has nothing to sing
    assert not any("last line" in w for w in song.warnings) and any("line 2" in w for w in song.warnings)
    _assert_lines_match_tokens(song)


def test_a_line_cut_by_the_end_ends_there_and_a_line_pushed_past_it_is_left_out():
    song = lyric_tokens("[01:59.00]" + "a" * 40 + "\n[01:59.50]b", 120, Letters())
    assert song.lines == (_line("a" * 40, frame_at(119.0), song.end_frame),)
    assert song.lines[0].end_s == song.end_frame / LATENT_RATE <= 120
    assert any("'b' would start at the song's end" in w for w in song.warnings)
    _assert_lines_match_tokens(song)


def test_every_placed_line_ends_with_its_period_unless_cut():
    song = lyric_tokens("[00:00.50]z\n[00:01.00]abc\n[00:02.00]\n[00:02.10]d.e\n[01:00.00]fin", 120, Letters())
    assert [line.text for line in song.lines] == ["z", "abc", "d.e", "fin"]
    for line in song.lines:
        assert int(song.tokens[_frames(line.end_s) - 1]) == PERIOD
    _assert_lines_match_tokens(song)


@pytest.mark.parametrize("seconds", [95, 120, 285])
def test_an_instrumental_is_all_filler_with_no_lines(seconds):
    sung = lyric_tokens("[00:01.00]ab\n[00:05.00]cd", seconds, Letters())
    song = lyric_tokens("", seconds, Letters(), instrumental=True)
    assert song.tokens.dtype == torch.long and song.tokens.shape == (sung.end_frame,)
    assert not song.tokens.any() and song.lines == () and song.warnings == ()
    assert (song.duration, song.max_frames, song.start_time) == (sung.duration, sung.max_frames, 0.0)


def test_an_instrumental_ignores_lyrics_and_says_so():
    song = lyric_tokens("[00:01.00]ab\n[00:05.00]cd\n[00:09.00]", 95, Letters(), instrumental=True)
    assert not song.tokens.any() and song.lines == ()
    assert song.warnings == ("instrumental: the 2 lyric line(s) were not sung",)
