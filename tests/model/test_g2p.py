"""English G2P through espeak-ng, checked against ids derived by hand from a small vocabulary."""

from __future__ import annotations

import pytest

from inference_container.diffrhythm.g2p import LyricsTokenizer, UnsupportedLyricsError
from inference_container.diffrhythm.g2p.english import normalize
from inference_container.diffrhythm.g2p.tokenizer import segments

VOCAB = {",": 0, ".": 1, "?": 2, "!": 3, "_": 4, "h": 5, "ə": 6, "l": 7, "oʊ": 8, "w": 9, "ɜː": 10, "d": 11,
         "tɹ": 12, "iː": 13, "k": 14, "æ": 15, "ts": 16, "n": 17, "s": 18, "ɪ": 19, "ŋ": 20}

def test_english_lines_against_hand_derived_ids():
    tokenizer = LyricsTokenizer(VOCAB)
    # h ə l oʊ _ w ɜː l d -> vocab ids + 1
    assert tokenizer.encode("hello world") == [6, 7, 8, 9, 5, 10, 11, 8, 12]
    # "tree" merges t|ɹ into tɹ; "cats" merges t|s into ts; a comma stays a token
    assert tokenizer.encode("tree, cats") == [13, 14, 1, 15, 16, 17]
    # punctuation closes the line without a trailing word boundary; unknown phones are dropped
    assert tokenizer.encode("sing!")[-1] == 4 and 5 not in tokenizer.encode("sing")[-1:]


def test_numbers_money_and_abbreviations_are_spelled_out():
    assert normalize("3rd").split() == ["third"]
    assert "twenty twenty-four" in normalize("in 2024")
    assert normalize("$1.05").split() == ["one", "dollar,", "five", "cents"]
    assert normalize("Dr Who").split() == ["doctor", "Who"]


def test_mixed_lines_are_split_by_script_and_mandarin_is_reported_until_supported():
    assert segments("你好, hello 世界") == [("你好, ", "zh"), ("hello ", "en"), ("世界", "zh")]
    with pytest.raises(UnsupportedLyricsError, match="Mandarin"):
        LyricsTokenizer(VOCAB).encode("你好")
