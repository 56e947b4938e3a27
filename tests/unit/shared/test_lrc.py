from __future__ import annotations

import itertools

import pytest

from shared.lrc import LyricsError, estimate_tokens, parse_lrc
from shared.timeline import LATENT_RATE, end_frame


def _issues(lrc: str, length: float = 95) -> list[tuple[int | None, str]]:
    with pytest.raises(LyricsError) as caught:
        parse_lrc(lrc, length)
    return [(issue.line, issue.message) for issue in caught.value.issues]


def test_parses_times_in_every_supported_form():
    lines = parse_lrc("[ar:Someone]\n[00:01]a b\n[00:02.5]c d\n[00:03.25]e f\n[00:04.125]g h\n[01:05:50]i j", 95).lines
    assert [line.time_s for line in lines] == [1.0, 2.5, 3.25, 4.125, 65.5]
    assert [line.number for line in lines] == [2, 3, 4, 5, 6]


def test_empty_timed_line_is_an_instrumental_gap():
    parsed = parse_lrc("[00:01.00]sing\n[00:10.00]\n[00:20.00]sing again", 95)
    assert [line.text for line in parsed.lines] == ["sing", "", "sing again"]


def test_bad_timestamp_is_reported_with_its_line():
    assert _issues("[00:01.00]ok\n[00:75.00]bad seconds")[0][0] == 2
    assert "bad timestamp" in _issues("[0a:01.00]x")[0][1]


def test_lines_out_of_order_are_reported():
    ((line, message),) = _issues("[00:10.00]late\n[00:05.00]early")
    assert line == 2 and "out of order" in message and "line 1" in message


def test_line_past_the_song_length_is_reported_per_model_length():
    ((line, message),) = _issues("[00:01.00]a\n[01:40.00]after 95 s")
    assert line == 2 and "95 s" in message
    assert parse_lrc("[00:01.00]a\n[01:40.00]fits a 120 s song", 120).lines[-1].time_s == 100


def test_too_many_tokens_for_the_time_before_the_next_line():
    crowded = "[00:01.00]" + "many words in a line " * 6 + "\n[00:02.00]next"
    ((line, message),) = _issues(crowded)
    assert line == 1 and "too many" in message
    assert parse_lrc(crowded.replace("[00:02.00]", "[00:20.00]"), 95)


def test_empty_lyrics_and_untimed_lines_in_timed_lyrics_are_errors():
    assert _issues("[ti:title]\n\n")[0][0] is None
    ((line, message),) = _issues("[00:01.00]timed\nuntimed line")
    assert line == 2 and "no [mm:ss.xx] timestamp" in message


def test_plain_lyrics_are_spread_evenly_and_reported():
    parsed = parse_lrc("one\ntwo\nthree", 95)
    times = [line.time_s for line in parsed.lines]
    assert not parsed.timed and parsed.warnings and times == sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) - min(gaps) < 0.02 and times[0] > 0 and times[-1] < 95
    assert parse_lrc(parsed.to_lrc(), 95).timed


def test_end_frame_matches_upstream():
    assert end_frame(95) == 2048
    assert end_frame(180) == int(180 * LATENT_RATE) == 3875
    assert end_frame(285) == 6136


def test_token_estimate_counts_cjk_heavier_than_latin():
    assert estimate_tokens("") == 0
    assert estimate_tokens("你好世界") > estimate_tokens("abcd")


def test_a_number_too_long_to_sing_is_refused_naming_its_line():
    with pytest.raises(LyricsError) as caught:
        parse_lrc("[00:01.00]call 1234567890123456789012345678901234567890 now\n[00:10.00]fine", 95)
    assert [issue.line for issue in caught.value.issues] == [1] and "digits" in str(caught.value)
    assert parse_lrc("[00:01.00]call 1,234,567 or 123456789012345 now", 95).lines  # up to 15 digits is fine
