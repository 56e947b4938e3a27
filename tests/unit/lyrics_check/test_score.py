"""The lyric scorer on whole songs: five sheets (three English, two Mandarin, with repeated chorus lines), each
with a faithful transcript (case and punctuation changed; one homophone for Mandarin) and altered ones (a word
dropped, a line sung twice, a line missing), with word times spread over the line windows and without times."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest

from inference_container.lyrics_check import FLAG_BELOW, HeardWord, SheetLine, heard_words, score_lyrics
from inference_container.lyrics_check.tokens import tokenize

LINE_S = 5.0


@dataclass(frozen=True)
class Song:
    name: str
    lines: tuple[str, ...]
    faithful: tuple[str, ...]  # as a transcript would write them: case, punctuation (and a homophone) changed
    altered: tuple[int, int, int]  # the lines that lose a word, are sung twice, go missing
    cjk: bool = False

    @property
    def sheet(self) -> list[SheetLine]:
        return [SheetLine(text, i * LINE_S, (i + 1) * LINE_S) for i, text in enumerate(self.lines)]


SONGS = [
    Song("summer nights", (
        "Under the streetlights we were young",
        "Counting the cars on the avenue",
        "Summer nights, don't let them end",
        "Hold on, hold on to me",
        "Every song on the radio knew",
        "Every word we never said",
        "Summer nights, don't let them end",
        "Hold on, hold on to me",
    ), (
        "under the STREETLIGHTS we were young.",
        "Counting the cars on the avenue...",
        "summer nights dont let them end!",
        "Hold on - hold on to me",
        "every song on the Radio knew",
        "Every word we never said,",
        "SUMMER NIGHTS, DON’T LET THEM END",
        "hold on hold on to me.",
    ), altered=(3, 2, 6)),
    Song("paper planes", (
        "Paper planes across the morning sky",
        "I folded every letter that I wrote",
        "Let it fly, let it fly",
        "Let it fly, let it fly",
        "We were 21 and running late",
        "Nobody told us where to go",
        "Let it fly, let it fly",
    ), (
        "paper planes across the morning sky",
        "I folded every letter, that I wrote",
        "let it fly let it fly",
        "Let it fly! Let it fly!",
        "we were 21 and running late",
        "Nobody told us where to go?",
        "let it FLY, let it FLY",
    ), altered=(0, 6, 5)),
    Song("ocean drive", (
        "Oh-oh, the ocean's calling me",
        "I'm driving down to the coast tonight",
        "Oh-oh, the ocean's calling me",
        "Can't you hear the waves",
        "Oh-oh, the ocean's calling me",
    ), (
        "oh oh the oceans calling me",
        "Im driving down to the coast tonight",
        "Oh, oh, the ocean's calling me.",
        "CAN'T YOU HEAR THE WAVES?",
        "oh-oh the ocean’s calling me",
    ), altered=(1, 2, 3)),
    Song("moon over the river", (
        "月亮照在小河上，",
        "我在窗前等着你",
        "风吹过了我的脸",
        "你说过不会离开",
        "我在窗前等着你。",
    ), (
        "月亮照在小河上",
        "我再窗前等着你",  # 再 for 在: both zai
        "风吹过了，我的脸",
        "你说过不会离开！",
        "我在窗前等着你",
    ), altered=(2, 4, 3), cjk=True),
    Song("city lights", (
        "城市的灯火亮起来",
        "我们一起唱这首歌",
        "唱到天亮不回头",
        "我们一起唱这首歌",
        "明天还会更好",
    ), (
        "城市的灯火亮起来。",
        "我们一起唱这手歌",  # 手 for 首: both shou
        "唱到天亮，不回头",
        "我们一起唱这首歌！",
        "明天还会更好",
    ), altered=(4, 1, 2), cjk=True),
]
KINDS = ("dropped word", "sung twice", "missing line")


def words(text: str, cjk: bool) -> list[str]:
    """A transcript line cut as Whisper's chunks come: words, or one chunk per character for Mandarin."""
    return [char for char in text if not char.isspace()] if cjk else text.split()


def alter(song: Song, kind: str, line: int) -> list[list[str]]:
    """The faithful transcript's words per line, with ``line`` altered."""
    lines = [words(text, song.cjk) for text in song.faithful]
    if kind == "dropped word":  # the third word that has something to sing
        third = [i for i, word in enumerate(lines[line]) if tokenize(word)][2]
        lines[line] = lines[line][:third] + lines[line][third + 1:]
    elif kind == "sung twice":
        lines[line] = lines[line] * 2
    else:
        lines[line] = []
    return lines


def transcript(song: Song, lines: list[list[str]], timed: bool = True) -> list[HeardWord]:
    """Each line's words spread over its window (from 0.1 s after its start to 0.9 of it), or one untimed text."""
    if not timed:
        separator = "" if song.cjk else " "
        return heard_words(" ".join(separator.join(words) for words in lines if words))
    heard = []
    for index, line_words in enumerate(lines):
        step = 0.8 * LINE_S / max(1, len(line_words))
        for k, word in enumerate(line_words):
            start = index * LINE_S + 0.1 * LINE_S + k * step
            heard.append(HeardWord(word if song.cjk else f" {word}", round(start, 2), round(start + 0.8 * step, 2)))
    return heard


def faithful(song: Song) -> list[list[str]]:
    return [words(text, song.cjk) for text in song.faithful]


@pytest.mark.parametrize("timed", [True, False], ids=["timed", "untimed"])
def test_faithful_transcripts_score_above_every_altered_one(timed):
    faithful_scores, altered_scores = {}, {}
    for song in SONGS:
        report = score_lyrics(song.sheet, transcript(song, faithful(song), timed))
        assert report is not None and report.flagged == (), (song.name, report)
        faithful_scores[song.name] = report.lyrics_accuracy
        for kind, line in zip(KINDS, song.altered, strict=True):
            altered = score_lyrics(song.sheet, transcript(song, alter(song, kind, line), timed))
            assert altered is not None
            assert altered.flagged == (line,), (song.name, kind, altered.lines[line], altered.flagged)
            altered_scores[song.name, kind] = altered.lyrics_accuracy
    assert min(faithful_scores.values()) > max(altered_scores.values())
    assert set(faithful_scores.values()) == {1.0}


@pytest.mark.parametrize("timed", [True, False], ids=["timed", "untimed"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("song", SONGS, ids=[song.name for song in SONGS])
def test_every_line_altered_flags_that_line_alone(song, kind, timed):
    """With word times even a chorus line sung twice in a row in the sheet is told apart from its twin; without
    them the two cannot be told apart, and either is flagged."""
    for line in range(len(song.lines)):
        report = score_lyrics(song.sheet, transcript(song, alter(song, kind, line), timed))
        twin = [i for i in (line - 1, line + 1) if not timed and song.lines[i:i + 1] == (song.lines[line],)]
        twins = {line, *twin}
        assert report is not None and len(report.flagged) == 1 and report.flagged[0] in twins, (kind, line, report)
        others = [other.score for index, other in enumerate(report.lines) if index != report.flagged[0]]
        assert others == [1.0] * len(others)


def test_the_report_of_a_missing_and_a_repeated_line():
    song = SONGS[0]
    lines = faithful(song)
    lines[1], lines[5] = [], lines[5] * 2
    report = score_lyrics(song.sheet, transcript(song, lines))
    assert report is not None and report.flagged == (1, 5)
    missing, repeated = report.lines[1], report.lines[5]
    assert (missing.heard, missing.score, missing.missing, missing.extra) == ("", 0.0, 6, 0)
    assert repeated.heard == "Every word we never said Every word we never said"
    assert (repeated.score, repeated.missing, repeated.extra) == (0.0, 0, 5)
    assert report.lyrics_accuracy == pytest.approx(1 - 11 / sum(len(tokenize(text)) for text in song.lines))
    payload = json.loads(json.dumps(report.to_json()))
    assert set(payload) == {"lyrics_accuracy", "flag_below", "lines"} and payload["flag_below"] == FLAG_BELOW
    assert payload["lines"][1] == {"expected": "Counting the cars on the avenue", "heard": "", "score": 0.0,
                                   "start_s": 5.0, "end_s": 10.0, "flagged": True, "missing": 6, "substituted": 0,
                                   "extra": 0}
    assert [line["flagged"] for line in payload["lines"]] == [i in (1, 5) for i in range(8)]


def test_a_homophone_counts_as_sung_and_the_heard_text_is_what_was_heard():
    song = SONGS[3]
    report = score_lyrics(song.sheet, transcript(song, faithful(song)))
    assert report is not None and report.lines[1].score == 1.0
    assert report.lines[1].expected == "我在窗前等着你" and report.lines[1].heard == "我再窗前等着你"
    heard = "月亮照在小河上 我在窗前等着他 风吹过了我的脸 你说过不会离开 我在窗前等着你"
    report = score_lyrics(song.sheet, heard_words(heard))
    assert report is not None and report.flagged == (1,) and report.lines[1].substituted == 1  # 他 is not 你


def test_chunk_timestamps_are_shared_out_over_their_words():
    """Chunk-level timestamps (one chunk per line, a sentence each) work as word times do."""
    song = SONGS[1]
    lines = alter(song, "sung twice", 2)
    chunks = [{"text": " " + " ".join(words), "timestamp": (i * LINE_S + 0.2, (i + 1) * LINE_S - 0.2)}
              for i, words in enumerate(lines)]
    report = score_lyrics(song.sheet, heard_words({"text": "", "chunks": chunks}))
    assert report is not None and report.flagged == (2,)  # not its twin, line 3


def test_a_line_sung_twice_without_times_is_put_on_the_line_before_the_insertion():
    sheet = [SheetLine("one two three", 0, 4), SheetLine("four five six", 4, 8), SheetLine("seven eight", 8, 12)]
    report = score_lyrics(sheet, [HeardWord("one two three four five six four five six seven eight")])
    assert report is not None and report.flagged == (1,) and report.lines[1].extra == 3
    # with times, an insertion goes to the neighbouring line whose window holds it
    sung = ["one", "two", "three", "four", "five", "six", "four", "five", "six", "seven", "eight"]
    times = [0, 1, 2, 4, 5, 6, 8.1, 8.5, 9, 10, 11]
    heard = [HeardWord(word, t, t + 0.5) for word, t in zip(sung, times, strict=True)]
    report = score_lyrics(sheet, heard)
    assert report is not None and report.flagged == (2,) and report.lines[2].extra == 3


def test_nothing_heard_or_nothing_to_sing():
    sheet = SONGS[0].sheet
    report = score_lyrics(sheet, [])
    assert report is not None and report.lyrics_accuracy == 0.0 and len(report.flagged) == len(sheet)
    assert all(line.heard == "" and line.missing == len(tokenize(line.expected)) for line in report.lines)
    assert score_lyrics([], [HeardWord("la la la")]) is None
    assert score_lyrics([SheetLine("", 0, 5), SheetLine("—!", 5, 10)], [HeardWord("la")]) is None
    # a line with nothing to sing is left out of the report
    report = score_lyrics([SheetLine("♪", 0, 5), SheetLine("la la", 5, 10)], [HeardWord("la la")])
    assert report is not None and [line.expected for line in report.lines] == ["la la"]


def test_garbage_heard_scores_zero_not_below():
    report = score_lyrics(SONGS[2].sheet, [HeardWord("blah " * 200)])
    assert report is not None and report.lyrics_accuracy == 0.0
    assert all(0.0 <= line.score <= 1.0 and line.flagged for line in report.lines)


def test_a_four_minute_song_is_scored_quickly():
    """60 lines of 8 words (480 tokens, a 4-minute song), repeated choruses, two lines altered."""
    vocabulary = ("love", "night", "light", "fire", "run", "away", "stay", "home", "heart", "dream", "fall", "rise",
                  "sky", "sea", "road", "time")
    chorus = "we sing this chorus all night long"
    sheet = [SheetLine(" ".join(vocabulary[(i * 3 + k * 5) % 16] for k in range(8)) if i % 4 else chorus, i * 4.0,
                       (i + 1) * 4.0) for i in range(60)]
    heard = []
    for i, line in enumerate(sheet):
        line_words = line.text.split()
        line_words = [] if i == 17 else line_words * 2 if i == 41 else line_words
        heard += [HeardWord(w, line.start_s + k * 0.2, line.start_s + k * 0.2 + 0.15) for k, w in enumerate(line_words)]
    began = time.perf_counter()
    report = score_lyrics(sheet, heard)
    elapsed = time.perf_counter() - began
    assert report is not None and report.flagged == (17, 41)
    assert elapsed < 5.0, f"{elapsed:.2f} s"  # about 0.1 s here
