"""The lyric scorer's parts: normalisation rules, the alignment (against a plain Levenshtein distance) and its
inputs (the sheet from placed or LRC lines, Whisper's output shapes); properties with hypothesis."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference_container.lyrics_check import HeardWord, SheetLine, heard_words, score_lyrics, sheet_from_placed
from inference_container.lyrics_check.align import align, distance
from inference_container.lyrics_check.tokens import join, tokenize

PACKAGE = Path(__file__).resolve().parents[3] / "inference_container" / "lyrics_check"
PROPERTIES = settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
VOCABULARY = ["love", "night", "don't", "Hold", "on", "21", "我", "在", "等", "你", "さくら", "사랑"]


def keys(text: str) -> list[str]:
    return [token.key for token in tokenize(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Don't STOP me now!", ["dont", "stop", "me", "now"]),
    ("dont stop me, now", ["dont", "stop", "me", "now"]),
    ("I’m rock'n'roll — runnin' 'cause", ["im", "rocknroll", "runnin", "cause"]),
    ("well-known…Café", ["well", "known", "cafe"]),
    ("２１ times, 2,000 miles, 3.5 stars. End", ["21", "times", "2000", "miles", "3.5", "stars", "end"]),
    ("我在等你，", ["wo", "zai", "deng", "ni"]),
    ("银行 行走", ["yin", "hang", "xing", "zou"]),  # polyphones read in context
    ("绿", ["lv"]),
    ("カタカナ かたかな ｶﾀｶﾅ", ["か", "た", "か", "な"] * 3),  # katakana as hiragana, half-width ones too
    ("ラーメン・スープ", ["ら", "め", "ん", "す", "ぷ"]),  # the long mark and middle dot are punctuation
    ("사랑해 요", ["사", "랑", "해", "요"]),
    ("Привет, МИР", ["привет", "мир"]),
    ("...!?", []),
])
def test_normalisation(text, expected):
    assert keys(text) == expected


def test_a_homophone_and_the_same_character_both_match():
    sheet, heard = tokenize("我在等你"), tokenize("我再等你")
    assert [a.same(b) for a, b in zip(sheet, heard, strict=True)] == [True] * 4
    # the same character matches itself even where its context reads it otherwise (行 in 银行 and alone)
    assert tokenize("银行")[1].same(tokenize("行")[0]) and not tokenize("银行")[1].same(tokenize("星")[0])


def test_han_characters_are_read_across_chunks():
    words = heard_words([{"text": "银", "timestamp": (0, 1)}, {"text": "行", "timestamp": (1, 2)}])
    report = score_lyrics([SheetLine("银行", 0, 2)], words)
    assert report is not None and report.lines[0].score == 1.0 and report.lines[0].heard == "银行"


def test_join_keeps_the_sources_spacing():
    assert join(tokenize("Hold on, hold on")) == "Hold on hold on"
    assert join(tokenize("我在等你 月亮")) == "我在等你 月亮"
    assert join(tokenize("我爱you")) == "我爱 you"


def levenshtein(a: list[str], b: list[str]) -> int:
    """A plain Levenshtein distance, the reference the alignment is checked against."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


words = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=14)


@PROPERTIES
@given(sheet=words, heard=words, sheet_lines=st.lists(st.integers(0, 3), min_size=14, max_size=14),
       heard_lines=st.lists(st.integers(-1, 3), min_size=14, max_size=14))
def test_the_alignment_is_a_cheapest_one_with_or_without_times(sheet, heard, sheet_lines, heard_lines):
    a, b = tokenize(" ".join(sheet)), tokenize(" ".join(heard))
    for lines in ((None, None), (sorted(sheet_lines)[:len(a)], heard_lines[:len(b)])):
        steps = align(a, b, *lines)
        assert distance(steps) == levenshtein(sheet, heard)
        assert [s.sheet for s in steps if s.sheet is not None] == list(range(len(a)))
        assert [s.heard for s in steps if s.heard is not None] == list(range(len(b)))
        assert all((s.op == "match") == (s.sheet is not None and s.heard is not None and a[s.sheet].same(b[s.heard]))
                   for s in steps)


sheets = st.lists(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=8), min_size=1, max_size=8)


def _sheet(lines: list[list[str]]) -> list[SheetLine]:
    return [SheetLine(" ".join(words), 3.0 * i, 3.0 * (i + 1)) for i, words in enumerate(lines)]


@PROPERTIES
@given(lines=sheets, timed=st.booleans())
def test_a_transcript_equal_to_the_sheet_scores_one(lines, timed):
    sheet = _sheet(lines)
    heard = [HeardWord(" ".join(words), 3.0 * i + 0.1 if timed else None, 3.0 * i + 2.9 if timed else None)
             for i, words in enumerate(lines)]
    report = score_lyrics(sheet, heard)
    assert report is not None and report.lyrics_accuracy == 1.0 and report.flagged == ()
    assert [keys(line.heard) for line in report.lines] == [keys(line.text) for line in sheet]


@PROPERTIES
@given(lines=sheets, heard=st.lists(st.sampled_from([*VOCABULARY, "noise"]), max_size=80))
def test_scores_stay_in_range_and_the_song_counts_every_edit(lines, heard):
    sheet = _sheet(lines)
    report = score_lyrics(sheet, [HeardWord(" ".join(heard))])
    assert report is not None and 0.0 <= report.lyrics_accuracy <= 1.0
    assert all(0.0 <= line.score <= 1.0 and line.flagged == (line.score < report.flag_below) for line in report.lines)
    sheet_keys, heard_keys = keys(" ".join(" ".join(w) for w in lines)), keys(" ".join(heard))
    edits = sum(line.missing + line.substituted + line.extra for line in report.lines)
    assert edits == levenshtein(sheet_keys, heard_keys)  # no Han here reads as another's pinyin
    assert report.lyrics_accuracy == pytest.approx(max(0.0, 1 - edits / len(sheet_keys)))


def test_the_sheet_from_placed_lines():
    from inference_container.diffrhythm.lyrics import PlacedLine

    placed = [PlacedLine("hello there", 1.0, 2.5), PlacedLine("general", 6.0, 7.0)]
    assert sheet_from_placed(placed, 95.0) == [SheetLine("hello there", 1.0, 6.0), SheetLine("general", 6.0, 95.0)]


def test_whisper_output_shapes():
    openai = {"text": "hi you", "segments": [{"text": " hi you", "start": 0.0, "end": 2.0,
                                               "words": [{"word": " hi", "start": 0.0, "end": 0.5},
                                                         {"word": " you", "start": 1.0, "end": 2.0}]}]}
    assert heard_words(openai) == [HeardWord(" hi", 0.0, 0.5), HeardWord(" you", 1.0, 2.0)]
    segments = {"segments": [{"text": " hi you", "start": 0.0, "end": 2.0}]}
    assert heard_words(segments) == [HeardWord(" hi you", 0.0, 2.0)]
    assert heard_words({"text": " hi you"}) == [HeardWord(" hi you")]
    assert heard_words([{"text": "hi", "timestamp": None}]) == [HeardWord("hi")]


def test_the_package_never_imports_torch_or_numpy():
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [
                node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [name for name in names if name.split(".")[0] in ("torch", "numpy")], path
