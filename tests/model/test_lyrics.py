"""Lyric token placement follows upstream exactly (with a toy tokenizer: the G2P is tested on its own)."""

from __future__ import annotations

import torch

from inference_container.diffrhythm.lyrics import lyric_tokens
from shared.timeline import LATENT_RATE


class Letters:
    """A toy tokenizer: a letter -> its alphabet index + 10; '.' -> 2 (period), ',' -> 1 (comma)."""

    def note(self, text: str) -> str | None:
        return None

    def encode(self, text: str) -> list[int]:
        table = {".": 2, ",": 1}
        return [table.get(ch, ord(ch.lower()) - ord("a") + 10) for ch in text if ch.isalpha() or ch in table]


def _frame(seconds: float) -> int:
    return int(seconds * LATENT_RATE)


def test_lines_start_at_their_frame_and_end_with_a_period():
    song = lyric_tokens("[00:01.00]ab\n[00:03.50]c.d\n[00:10.00]zz", 120, Letters())
    seq = song.tokens
    assert song.end_frame == int(120 * LATENT_RATE) and song.max_frames == 6144
    assert seq[_frame(1.0):_frame(1.0) + 3].tolist() == [10, 11, 2]
    assert seq[_frame(3.5):_frame(3.5) + 4].tolist() == [12, 1, 13, 2]  # inner period -> comma
    assert seq[_frame(10.0):_frame(10.0) + 3].tolist() == [35, 35, 2]
    assert int((seq != 0).sum()) == 10
    assert abs(song.duration - song.end_frame / 6144) < 1e-9 and song.start_time == 0


def test_95s_model_drops_the_last_line_and_uses_2048_frames():
    song = lyric_tokens("[00:01.00]ab\n[00:05.00]cd", 95, Letters())
    assert song.end_frame == 2048 and song.duration == 1.0
    assert int((song.tokens != 0).sum()) == 3  # "ab." only


def test_lines_past_the_end_are_dropped_before_the_last_line_rule():
    song = lyric_tokens("[00:01.00]ab\n[00:05.00]cd\n[01:40.00]late", 95, Letters())
    assert song.tokens[_frame(1.0):_frame(1.0) + 3].tolist() == [10, 11, 2]
    assert int((song.tokens != 0).sum()) == 3 and any("dropped" in w for w in song.warnings)


def test_crowded_and_out_of_order_lines_follow_the_previous_line():
    song = lyric_tokens("[00:01.00]abcdefghij\n[00:01.10]xy\n[00:00.50]z\n[00:30.00]end", 120, Letters())
    start = _frame(1.0)
    assert song.tokens[start:start + 11].tolist() == [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 2]
    assert song.tokens[start + 11:start + 14].tolist() == [33, 34, 2]
    assert song.tokens[start + 14:start + 16].tolist() == [35, 2]


def test_tokens_are_cut_at_the_end_frame():
    song = lyric_tokens("[01:59.90]" + "a" * 40, 120, Letters())
    start = _frame(119.9)
    assert song.end_frame - start == 2 and song.tokens[start:].tolist() == [10, 10]


def test_empty_lines_are_gaps_and_lines_with_nothing_to_sing_are_reported():
    song = lyric_tokens("[00:01.00]ab\n[00:02.00]\n[00:03.00]...\n[00:04.00]cd\n[00:50.00]", 95, Letters())
    assert song.tokens[_frame(4.0):_frame(4.0) + 3].tolist() == [12, 13, 2]  # the empty end marker was dropped
    assert any("line 3" in w for w in song.warnings)


def test_metadata_and_untimed_text_are_skipped_and_milliseconds_parse():
    song = lyric_tokens("[ar:someone]\nno time here\n[00:02.125]ab\n[00:09.00]end", 95, Letters())
    assert song.tokens[_frame(2.125):_frame(2.125) + 3].tolist() == [10, 11, 2]
    assert torch.count_nonzero(song.tokens) == 3
