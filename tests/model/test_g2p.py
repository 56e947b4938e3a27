"""English G2P through espeak-ng, checked against ids derived by hand from a small vocabulary."""

from __future__ import annotations

import pytest

from inference_container.diffrhythm.g2p import LyricsTokenizer, UnsupportedLyricsError
from inference_container.diffrhythm.g2p.english import normalize
from inference_container.diffrhythm.g2p.mandarin import MandarinG2P
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


def test_a_number_too_long_to_sing_is_the_users_error_not_a_crash():
    from inference_container.errors import InputError

    with pytest.raises(InputError, match="too long to sing"):  # inflect raised NumOutOfRangeError, retried 3 times
        normalize("call 1234567890123456789012345678901234567890 now")


def test_mixed_lines_are_split_by_script():
    assert segments("你好, hello 世界") == [("你好, ", "zh"), ("hello ", "en"), ("世界", "zh")]
    with pytest.raises(UnsupportedLyricsError, match="Mandarin"):
        LyricsTokenizer(VOCAB).encode("你好")  # a tokenizer built without a Mandarin G2P says so


ZH_VOCAB = {",": 0, ".": 1, "_": 4, "n": 5, "i↑": 6, "x": 7, "ɑʊ↓↑": 8, "ɹ`": 9, "ən↑": 10, "ɑŋ↑": 11,
            "ʃ": 12, "iŋ↑": 13, "s`ɹ↓": 14, "p⁼": 15, "u↑": 16, "ueɪ↓": 17, "h": 18, "ə": 19, "l": 20, "oʊ": 21,
            "w": 22, "ɜː": 23, "d": 24, "i↓": 25, "k⁼": 26, "ə↓": 27}


def _zh_tokenizer(lexicon: dict[str, str] | None = None) -> LyricsTokenizer:
    return LyricsTokenizer(ZH_VOCAB, MandarinG2P(lexicon))


def test_mandarin_lines_against_hand_derived_ids():
    # 你好: ni3 hao3 -> third-tone sandhi ni2 -> n i↑ x ɑʊ↓↑ -> ids + 1
    assert _zh_tokenizer().encode("你好。") == [6, 7, 8, 9, 2]
    # 是人: shi4 (bare syllable: one phone) + ren2
    assert _zh_tokenizer().encode("是人") == [15, 10, 11]
    # 不会: bu4 before a fourth tone -> bu2; 一个: yi1 before ge4 -> yi2
    assert _zh_tokenizer().encode("不会")[:2] == [16, 17]
    assert _zh_tokenizer().encode("一个") == [7, 27, 28]


def test_mandarin_polyphones_follow_context_and_the_lexicon_wins():
    g2p = MandarinG2P()
    assert g2p("银行").split("|")[-2:] == ["x", "ɑŋ↑"]  # hang2
    assert g2p("行走").split("|")[:2] == ["ʃ", "iŋ↑"]  # xing2
    assert MandarinG2P({"行走": "hang2 zou3"})("行走").split("|")[:2] == ["x", "ɑŋ↑"]


def test_mixed_mandarin_and_english_line():
    phones = _zh_tokenizer().phonemes("你好 hello world")
    assert phones.startswith("n|i↑|x|ɑʊ↓↑|h|ə|l|oʊ|_|w|ɜː|l|d") and not phones.endswith("_")


def test_numbers_in_mandarin_are_read_as_chinese_numerals():
    assert MandarinG2P()("3个") == MandarinG2P()("三个")
