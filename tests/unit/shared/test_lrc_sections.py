"""Lyrics without time tags, with or without section tags, timed from their syllables and phonemes at a tempo.

Every sheet is checked for what the model needs: no line overlaps the next, every line has the frames its phonemes
need (the same estimate the LRC validation uses), nothing lies at or after the song's end, and the LRC returned to
the user parses back to the same times.
"""

from __future__ import annotations

import itertools
import random

import pytest

from shared.lrc import LyricLine, LyricsError, ParsedLyrics, estimate_tokens
from shared.lyrics import DEFAULT_BPM, estimate_syllables, parse_lrc
from shared.timeline import LATENT_RATE, MAX_SECONDS, MIN_SECONDS, end_frame, frame_at

VERSE = ["Moonlight spills through broken blinds", "Your shadow dances on the dashboard shrine",
         "Neon ghosts in gasoline rain", "I hear your laughter down the midnight train"]
CHORUS = ["Stay with me until the morning light", "Hold me close and never say goodnight"]
POP_SONG = "\n".join(["[Intro]", "[Verse 1]", *VERSE, "", "[Chorus]", *CHORUS, "[Verse 2]", *reversed(VERSE),
                      "[Bridge]", "Slow it down and let the silence speak", "[Chorus]", *CHORUS, "[Outro]"])
LONG_LINE = " ".join(["every word I never said keeps echoing along the empty hallway of my mind"] * 3)

SHEETS: dict[str, tuple[str, float, float | None]] = {  # name: (lyrics, audio_length, bpm)
    "verse chorus bridge with intro and outro": (POP_SONG, MIN_SECONDS, None),
    "plain lines": ("\n".join(VERSE + CHORUS), MIN_SECONDS, None),
    "plain stanzas split by blank lines": ("\n".join([*VERSE, "", *CHORUS, "", *VERSE]), MIN_SECONDS, None),
    "numbered sections and named singers": ("\n".join(["[verse 1]", *VERSE[:2], "[Chorus 1]", *CHORUS,
                                                        "[Verse 2: Ann]", *VERSE[2:], "[chorus 2]", *CHORUS]),
                                             MIN_SECONDS, None),
    "tags with text on the same line": ("\n".join(["[intro]", f"[verse] {VERSE[0]}", VERSE[1],
                                                   f"[CHORUS] {CHORUS[0]}", CHORUS[1], f"[hook] {CHORUS[0]}"]),
                                        MIN_SECONDS, None),
    "mixed chinese and english": ("\n".join(["[verse]", "我们一起唱歌 tonight", "月亮在天上 shining bright",
                                             "Dance with me 直到天亮", "[chorus]", "你是我的 everything",
                                             "このまま 終わらないで", "사랑해 my love"]), MIN_SECONDS, None),
    "very short lines": ("\n".join(["[verse]", "oh", "yeah", "hey!", "la", "[chorus]", "go", "ooh", "ah"]),
                         MIN_SECONDS, None),
    "very long lines": ("\n".join(["[verse]", LONG_LINE, LONG_LINE, "[chorus]", LONG_LINE]), MIN_SECONDS, None),
    "a 285 s song": ("\n".join([POP_SONG] * 3), MAX_SECONDS, None),
    "sections without lyric lines": ("\n".join(["[intro]", "[instrumental]", "[verse]", *VERSE, "[break]",
                                                "[Guitar solo]", "[solo]", "[chorus]", *CHORUS, "[interlude]",
                                                "[bridge]", "[outro]"]), MIN_SECONDS, None),
    "slow tempo": (POP_SONG, MIN_SECONDS, 60),
    "fast tempo": (POP_SONG, MIN_SECONDS, 180),
    "slowest tempo, squeezed into the song": (POP_SONG, MIN_SECONDS, 40),
    "fastest tempo on a long song": ("\n".join([POP_SONG] * 2), 180, 240),
}


def _sung(parsed: ParsedLyrics) -> list[LyricLine]:
    return [line for line in parsed.lines if line.text]


def _assert_well_placed(parsed: ParsedLyrics, audio_length: float) -> None:
    """No overlap, every line its tokens' frames, the song's end respected, and the LRC round-trips."""
    lines = parsed.lines
    assert not parsed.timed and lines[-1].text == "" and all(line.text for line in lines[:-1])
    for line, following in itertools.pairwise(lines):
        tokens = estimate_tokens(line.text)
        assert following.time_s >= line.time_s + tokens / LATENT_RATE, (line, following)
        assert frame_at(following.time_s) - frame_at(line.time_s) >= tokens, (line, following)  # the frames too
    assert all(0 <= line.time_s < audio_length for line in lines)
    last = _sung(parsed)[-1]
    assert frame_at(last.time_s) + estimate_tokens(last.text) <= end_frame(audio_length)
    again = parse_lrc(parsed.to_lrc(), audio_length)
    assert again.timed and not again.warnings and again.to_lrc() == parsed.to_lrc()
    assert [(line.time_s, line.text) for line in again.lines] == [
        (pytest.approx(line.time_s, abs=1e-9), line.text) for line in lines
    ]


@pytest.mark.parametrize("name", list(SHEETS))
def test_every_sheet_is_placed_without_overlap_within_the_song(name):
    lyrics, audio_length, bpm = SHEETS[name]
    parsed = parse_lrc(lyrics, audio_length, bpm=bpm)
    _assert_well_placed(parsed, audio_length)
    texts = [line.split("]", 1)[-1].strip() for line in lyrics.splitlines()]
    assert [line.text for line in _sung(parsed)] == [text for text in texts if text]  # every line, in order
    (warning,) = parsed.warnings
    assert f"{len(_sung(parsed))} lines were timed at {bpm or DEFAULT_BPM:g} bpm" in warning


def test_random_sheets_are_placed_well_or_refused_with_what_to_do():
    rng = random.Random(12)
    pool = [*VERSE, *CHORUS, LONG_LINE, "oh", "我们一起唱歌 tonight", "사랑해 my love", "", "[verse]", "[Chorus 2]",
            "[intro]", "[break]", "[bridge]", "[outro]", "[hook] hey hey", "[ar:Someone]"]
    placed = refused = 0
    for _ in range(300):
        lyrics = "\n".join(rng.choices(pool, k=rng.randint(1, 120)))
        audio_length, bpm = rng.choice([MIN_SECONDS, 96, 180, MAX_SECONDS]), rng.choice([None, 40, 72.5, 128, 240])
        try:
            parsed = parse_lrc(lyrics, audio_length, bpm=bpm)
        except LyricsError as error:
            assert len(error.issues) == 1 and str(error).startswith(("the lyrics need about", "no lyric line found"))
            refused += 1
        else:
            _assert_well_placed(parsed, audio_length)
            placed += 1
    assert placed > 100 and refused > 10  # both outcomes are exercised


def test_table_of_the_first_sheets_timings():
    lyrics, audio_length, bpm = next(iter(SHEETS.values()))
    parsed = parse_lrc(lyrics, audio_length, bpm=bpm)
    print(f"\n{parsed.warnings[0]}")
    print(f"{'line':>4}  {'section':<9} {'start s':>7} {'end s':>6} {'sung to':>7} {'tokens':>6} {'syll':>4}  text")
    for line, following in itertools.pairwise(parsed.lines):
        tokens = estimate_tokens(line.text)
        print(f"{line.number:>4}  {line.section:<9} {line.time_s:>7.2f} {following.time_s:>6.2f} "
              f"{line.time_s + tokens / LATENT_RATE:>7.2f} {tokens:>6} {estimate_syllables(line.text):>4}  {line.text}")
    print(f"{parsed.lines[-1].number:>4}  {parsed.lines[-1].section:<9} {parsed.lines[-1].time_s:>7.2f}  (end of the "
          f"singing; the song ends at {audio_length:g} s)")
    assert len(parsed.lines) == len(_sung(parsed)) + 1


def test_lines_fall_on_whole_bars_with_room_for_intro_bridge_and_outro():
    bar = 2.4  # s, 4 beats at 100 bpm
    lines = parse_lrc(POP_SONG, MIN_SECONDS).lines
    starts = {line.text: line.time_s for line in reversed(lines)}  # each text's first time
    assert lines[0].time_s == pytest.approx(4 * bar)  # [Intro]: four bars of music first
    assert all(line.time_s / bar == pytest.approx(round(line.time_s / bar), abs=0.005) for line in lines)
    assert starts[VERSE[1]] - starts[VERSE[0]] == pytest.approx(bar)  # 7 syllables: one bar
    assert starts[VERSE[2]] - starts[VERSE[1]] == pytest.approx(2 * bar)  # 10 syllables: two bars
    assert starts[CHORUS[0]] - (starts[VERSE[3]] + 2 * bar) == pytest.approx(bar)  # a bar between sections
    bridge = next(line for line in lines if line.section == "Bridge")
    previous = lines[lines.index(bridge) - 1]
    assert bridge.time_s - previous.time_s == pytest.approx(bar + 1 * bar + 2 * bar)  # its bar, the gap, 2 of music
    assert lines[-1].section == "Outro" and lines[-1].time_s <= MIN_SECONDS - 4 * bar  # four bars left for it


def test_without_tags_a_one_bar_lead_in_and_a_bar_between_stanzas():
    lines = parse_lrc("one\ntwo\n\nthree", MIN_SECONDS, bpm=120).lines  # a bar is 2 s
    assert [line.time_s for line in lines] == [2.0, 4.0, 8.0, 10.0]
    assert [line.section for line in lines] == ["", "", "", ""]


def test_a_section_tag_without_lines_is_four_bars_of_music():
    with_break = parse_lrc("[verse]\none\n[break]\n[solo]\n[verse]\ntwo", MIN_SECONDS, bpm=120).lines
    without = parse_lrc("[verse]\none\n[verse]\ntwo", MIN_SECONDS, bpm=120).lines
    assert with_break[1].time_s - with_break[0].time_s == 2 + 2 * 4 * 2  # its bar, then 2 x 4 bars
    assert without[1].time_s - without[0].time_s == 2 + 2  # its bar, then the gap


def test_halving_the_tempo_doubles_every_time():
    fast = parse_lrc(POP_SONG, MAX_SECONDS, bpm=120).lines
    slow = parse_lrc(POP_SONG, MAX_SECONDS, bpm=60).lines
    assert [2 * line.time_s for line in fast] == pytest.approx([line.time_s for line in slow])


def test_a_line_longer_than_its_bars_gets_the_time_its_tokens_need_in_whole_bars():
    dense = "strengths twelfths scripts sprints"  # 4 syllables, many phonemes
    lines = parse_lrc(f"{dense}\nnext", MIN_SECONDS, bpm=240).lines  # a bar is 1 s
    need = estimate_tokens(dense) / LATENT_RATE
    assert 1 < need < 2 and estimate_syllables(dense) <= 8  # the phonemes, not the syllables, set its length
    assert lines[1].time_s - lines[0].time_s == 2


def test_a_sheet_that_barely_fits_is_squeezed_and_one_more_line_does_not_fit():
    lines: list[str] = []
    while True:
        try:
            parse_lrc("\n".join([*lines, VERSE[len(lines) % 4]]), MIN_SECONDS)
        except LyricsError as error:
            failure = error
            break
        lines.append(VERSE[len(lines) % 4])
    fits = parse_lrc("\n".join(lines), MIN_SECONDS)
    _assert_well_placed(fits, MIN_SECONDS)
    assert "squeezed to" in fits.warnings[0] and "to fit the 95 s song" in fits.warnings[0]
    assert fits.lines[-1].time_s > MIN_SECONDS - 0.5  # packed to the end, every line at its tokens' time
    (issue,) = failure.issues
    assert issue.line is None and "at the fastest, more than the 95 s song" in issue.message
    assert "raise audio_length (up to 285 s) or remove lines" in issue.message
    assert parse_lrc("\n".join([*lines, VERSE[len(lines) % 4]]), 120).lines  # as the message says


def test_squeezing_shortens_rooms_and_lines_in_proportion():
    parsed = parse_lrc(POP_SONG, MIN_SECONDS, bpm=40)  # 6 s bars: 30 bars of rooms and lines do not fit 95 s
    assert "squeezed to" in parsed.warnings[0]
    scale = int(parsed.warnings[0].split("squeezed to ")[1].split("%")[0]) / 100
    assert 0.4 < scale < 1
    assert parsed.lines[0].time_s == pytest.approx(scale * 4 * 6, abs=0.02)  # the intro, shortened


def test_lyrics_that_cannot_fit_even_a_285_s_song_name_what_to_do():
    with pytest.raises(LyricsError) as caught:
        parse_lrc("\n".join([LONG_LINE] * 40), MAX_SECONDS)
    assert "at the fastest" in str(caught.value) and "remove or shorten lines" in str(caught.value)


def test_a_short_song_leaving_most_of_it_empty_says_so():
    (warning,) = parse_lrc("one\ntwo", MAX_SECONDS).warnings
    assert "have no singing (add lines, lower bpm or shorten audio_length)" in warning
    assert "no singing" not in parse_lrc(POP_SONG, MIN_SECONDS).warnings[0]


def test_the_short_models_dropped_last_line_is_the_empty_end_of_the_singing():
    # the 95 s model drops the last line it is given (upstream's quirk): that is the empty line, not a sung one
    parsed = parse_lrc("one\ntwo", MIN_SECONDS)
    assert parsed.lines[-1] == LyricLine(2, 7.2, "")
    assert parsed.to_lrc() == "[00:02.40]one\n[00:04.80]two\n[00:07.20]"
