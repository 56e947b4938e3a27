from __future__ import annotations

import itertools

import pytest

from shared.lrc import LyricsError, estimate_tokens, timed_lines
from shared.lyrics import estimate_syllables, parse_lrc
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


def test_plain_lyrics_are_timed_at_the_tempo_and_reported():
    parsed = parse_lrc("one\ntwo\nthree", 95)
    times = [line.time_s for line in parsed.lines]
    assert not parsed.timed and times == sorted(times) and times[0] > 0 and times[-1] < 95
    assert [line.text for line in parsed.lines] == ["one", "two", "three", ""]  # the empty line ends the singing
    assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([2.4] * 3)  # a 4/4 bar each at 100 bpm
    (warning,) = parsed.warnings
    assert "no timestamps" in warning and "3 lines were timed at 100 bpm from 2.4 s to 9.6 s" in warning
    assert "spread" not in warning
    again = parse_lrc(parsed.to_lrc(), 95)
    assert again.timed and not again.warnings and again.to_lrc() == parsed.to_lrc()


def test_section_tags_in_timed_lyrics_are_skipped_and_name_the_lines_under_them():
    parsed = parse_lrc("[ti:Song]\n[Verse 1]\n[00:01.00]first\n[CHORUS]\n[00:05.00]second\n[pre-chorus 2]", 95)
    assert [(line.text, line.section) for line in parsed.lines] == [("first", "Verse 1"), ("second", "CHORUS")]
    assert parsed.timed and not parsed.warnings


def test_section_tags_and_metadata_tags_are_told_apart():
    # "[Verse: Ann]" looks like a metadata tag but is a section; "[ar:...]" and "[offset:...]" stay metadata
    parsed = parse_lrc("[ar:Someone]\n[offset:+100]\n[Verse: Ann]\nla la\n[hook x2] hey", 95)
    assert [(line.text, line.section) for line in parsed.lines[:-1]] == [("la la", "Verse: Ann"), ("hey", "hook x2")]
    assert "section tag such as [verse]" in _issues("[verses of mine]\nla")[0][1]  # not a section name


def test_untimed_text_in_timed_lyrics_is_still_an_error_even_after_a_section_tag():
    ((line, message),) = _issues("[00:01.00]timed\n[chorus] untimed text")
    assert line == 2 and "no [mm:ss.xx] timestamp before 'untimed text'" in message


def test_section_tags_alone_are_not_lyrics():
    ((line, message),) = _issues("[intro]\n[verse]\n[outro]")
    assert line is None and "no lyric line found" in message


def test_bpm_must_be_positive():
    with pytest.raises(ValueError, match="bpm"):
        parse_lrc("one", 95, bpm=0)
    assert parse_lrc("[00:01.00]one", 95, bpm=60).lines[0].time_s == 1.0  # timed lyrics ignore the tempo


def test_end_frame_matches_upstream():
    assert end_frame(95) == 2048
    assert end_frame(180) == int(180 * LATENT_RATE) == 3875
    assert end_frame(285) == 6136


def test_token_estimate_counts_cjk_heavier_than_latin():
    assert estimate_tokens("") == 0
    assert estimate_tokens("你好世界") > estimate_tokens("abcd")


def test_syllable_estimate_counts_vowel_groups_cjk_characters_and_digits():
    assert estimate_syllables("") == 0
    assert estimate_syllables("Moonlight spills through broken blinds") == 7
    assert estimate_syllables("Take me home, 2 nights") == 5  # silent final e, one a digit
    assert estimate_syllables("我们一起唱歌 tonight") == 8 and estimate_syllables("hmm") == 1


def test_a_number_too_long_to_sing_is_refused_naming_its_line():
    with pytest.raises(LyricsError) as caught:
        parse_lrc("[00:01.00]call 1234567890123456789012345678901234567890 now\n[00:10.00]fine", 95)
    assert [issue.line for issue in caught.value.issues] == [1] and "digits" in str(caught.value)
    assert parse_lrc("[00:01.00]call 1,234,567 or 123456789012345 now", 95).lines  # up to 15 digits is fine


def test_a_line_with_several_timestamps_is_sung_at_each_and_every_line_is_sorted_with_a_warning():
    lrc = "[00:05.00]verse one\n[00:20.00][00:50.00]the chorus line\n[00:35.00]verse two\n[01:05.00]the end"
    parsed = parse_lrc(lrc, 95)
    assert [(line.time_s, line.text) for line in parsed.lines] == [
        (5.0, "verse one"), (20.0, "the chorus line"), (35.0, "verse two"), (50.0, "the chorus line"),
        (65.0, "the end")]
    assert parsed.warnings == ("line 2: 'the chorus line' is sung at each of its 2 timestamps (00:20.00, 00:50.00)",)
    assert [(line.time_s, line.text) for line in timed_lines(lrc)] == [(line.time_s, line.text)
                                                                       for line in parsed.lines]  # the worker's read


def test_without_repeated_lines_the_file_order_still_counts_and_bad_repeats_name_their_line():
    with pytest.raises(LyricsError, match="out of order"):
        parse_lrc("[00:10.00]first\n[00:05.00]second", 95)
    with pytest.raises(LyricsError, match=r"line 1: bad timestamp \[00:7x\]"):
        parse_lrc("[00:01.00][00:7x]a line\n[00:20.00]another", 95)
    with pytest.raises(LyricsError, match="a timestamp inside the line"):
        parse_lrc("[00:01.00]a line [00:05.00] and more", 95)
