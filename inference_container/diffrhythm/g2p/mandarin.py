"""Mandarin lyrics -> phoneme string ``"n|i↑|x|ɑʊ↓↑"`` in the DiT's vocabulary.

Numbers are read as Chinese numerals (cn2an), words are found with jieba, and each word's pinyin comes from the
bundle's lexicon (``word<TAB>ni3 hao3`` lines) or, failing that, from pypinyin, whose phrase dictionary resolves
polyphonic characters by context (银行 hang2, 行走 xing2). Tone sandhi (third tone, 不, 一, 儿) follows standard
Mandarin as upstream applies it. Each syllable becomes an initial phone and a final phone carrying its tone arrow
(→ 1, ↑ 2, ↓↑ 3, ↓ 4, none for the neutral tone).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from inference_container.diffrhythm.g2p.english import PUNCTUATION, WIDE_PUNCTUATION

_TONES = {"1": "→", "2": "↑", "3": "↓↑", "4": "↓", "5": "", "0": ""}
_INITIALS = {  # pinyin initial -> phone
    "zh": "ts`⁼", "ch": "ts`ʰ", "sh": "s`", "r": "ɹ`", "z": "ts⁼", "c": "tsʰ", "s": "s", "b": "p⁼", "p": "pʰ",
    "m": "m", "f": "f", "d": "t⁼", "t": "tʰ", "n": "n", "l": "l", "g": "k⁼", "k": "kʰ", "h": "x", "j": "tʃ⁼",
    "q": "tʃʰ", "x": "ʃ",
}
_FINALS = {  # pinyin final (after y/w spelling is undone, ü as v) -> phone
    "a": "a", "o": "o", "e": "ə", "ê": "ɛ", "ai": "aɪ", "ei": "eɪ", "ao": "ɑʊ", "ou": "oʊ", "an": "an", "en": "ən",
    "ang": "ɑŋ", "eng": "əŋ", "er": "əɹ", "i": "i", "u": "u", "v": "ɥ", "ia": "ia", "ie": "iɛ", "iao": "iɑʊ",
    "iu": "ioʊ", "ian": "jɛn", "in": "in", "iang": "iɑŋ", "ing": "iŋ", "iong": "jʊŋ", "ua": "ua", "uo": "uo",
    "uai": "uaɪ", "ui": "ueɪ", "uan": "uan", "un": "uən", "uang": "uɑŋ", "ong": "ʊŋ", "ve": "ɥɛ", "van": "ɥæn",
    "vn": "ɥn",
}
_Y_W = {"yi": "i", "ya": "ia", "ye": "ie", "yao": "iao", "you": "iu", "yan": "ian", "yin": "in", "yang": "iang",
        "ying": "ing", "yong": "iong", "yu": "v", "yue": "ve", "yuan": "van", "yun": "vn", "wu": "u", "wa": "ua",
        "wo": "uo", "wai": "uai", "wei": "ui", "wan": "uan", "wen": "un", "wang": "uang", "weng": "ong"}
_BARE = {"zh", "ch", "sh", "r", "z", "c", "s"}  # zhi chi shi ri zi ci si: the vowel is the initial's buzz
_LIP = {"b", "p", "m", "f"}  # bo po mo fo are single phones
_NOT_ERHUA = {"女儿", "老儿", "男儿", "少儿", "小儿"}
_NUMERALS = set("零一二三四五六七八九十百千万亿两")


def syllable_phones(pinyin: str) -> list[str]:
    """One pinyin syllable with a tone digit -> its phones.

    Example
    -------
    >>> syllable_phones("zhong1"), syllable_phones("shi4"), syllable_phones("bo2"), syllable_phones("lv4")
    (['ts`⁼', 'ʊŋ→'], ['s`ɹ↓'], ['p⁼wo↑'], ['l', 'ɥ↓'])
    """
    tone = _TONES.get(pinyin[-1], "") if pinyin[-1].isdigit() else "→"
    body = pinyin.rstrip("012345").replace("ü", "v")
    body = _Y_W.get(body, body)
    initial = next((i for i in ("zh", "ch", "sh") if body.startswith(i)), body[:1] if body[:1] in _INITIALS else "")
    final = body[len(initial):]
    if initial in ("j", "q", "x") and final.startswith("u"):
        final = "v" + final[1:]
    if final in ("", "i") and initial in _BARE:
        return [f"{_INITIALS[initial]}ɹ{tone}"]
    if initial in _LIP and final == "o":
        return [f"{_INITIALS[initial]}wo{tone}"]
    if final not in _FINALS:
        return []  # not a Mandarin syllable (e.g. an interjection pypinyin kept as is)
    phones = [_INITIALS[initial]] if initial else []
    return [*phones, _FINALS[final] + tone]


def _merge(words: list[str]) -> list[str]:
    """Join 不 and 一 to the word they modify, 儿 to the word before, and A一A patterns, before sandhi."""
    merged: list[str] = []
    for word in words:
        joins = (merged[-1] in ("不", "一") and word not in PUNCTUATION) or word == "儿" if merged else False
        if joins:
            merged[-1] += word
        elif len(merged) >= 2 and merged[-1] == "一" and merged[-2] == word:
            merged[-2:] = [merged[-2] + "一" + word]
        else:
            merged.append(word)
    return merged


def _sandhi(word: str, pinyins: list[str]) -> list[str]:
    tones = [p[-1] for p in pinyins]
    change = lambda i, t: pinyins.__setitem__(i, pinyins[i][:-1] + t)  # noqa: E731
    if len(word) == len(pinyins):
        if len(word) == 3 and tones == ["3", "3", "3"]:
            change(0, "2")
            change(1, "2")
        elif len(word) == 2 and tones == ["3", "3"]:
            change(0, "2")
        for i, char in enumerate(word[:-1]):
            following = pinyins[i + 1][-1]
            if char == "不" and word != "不" and following == "4":
                change(i, "2")
            elif char == "一" and not (_NUMERALS - {"一"}) & set(word) and not word.startswith("第一"):
                if len(word) == 3 and word[0] == word[2] and i == 1:
                    change(i, "5")
                else:
                    change(i, "2" if following == "4" else "4")
        if len(word) > 1 and word.endswith("儿") and word not in _NOT_ERHUA:
            change(len(word) - 1, "5")
    return pinyins


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(60)
    return jieba


class MandarinG2P:
    """``g2p(text, sentence) -> phones`` for Han runs; ``lexicon`` maps words to ``"ni3 hao3"``."""

    def __init__(self, lexicon: dict[str, str] | None = None) -> None:
        self.lexicon = lexicon or {}

    @classmethod
    def load(cls, lexicon_path: str | Path | None) -> MandarinG2P:
        """With the bundle's lexicon file (``word<TAB>pinyin``), when it has one."""
        lexicon = {}
        if lexicon_path and Path(lexicon_path).is_file():
            for line in Path(lexicon_path).read_text(encoding="utf-8").splitlines():
                word, _, pinyin = line.partition("\t")
                if pinyin:
                    lexicon[word.strip()] = pinyin.strip()
        return cls(lexicon)

    def pinyin(self, word: str) -> list[str]:
        """Tone-numbered pinyin of one word (lexicon first, then pypinyin's context-aware phrases)."""
        if word in self.lexicon and len(self.lexicon[word].split()) == len(word):
            return self.lexicon[word].split()
        from pypinyin import Style, lazy_pinyin

        return lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)

    def __call__(self, text: str, sentence: str = "") -> str:
        import cn2an

        for wide, narrow in WIDE_PUNCTUATION.items():
            text = text.replace(wide, narrow)
        text = cn2an.transform(text.strip(), "an2cn")
        text = re.sub(rf"[^\u4e00-\u9fff{re.escape(PUNCTUATION)}]", "", text)
        phones: list[str] = []
        for word in _merge(_jieba().lcut(text, cut_all=False)):
            if all(ch in PUNCTUATION for ch in word):
                phones.extend(word)
                continue
            for syllable in _sandhi(word, self.pinyin(word)):
                phones.extend(syllable_phones(syllable))
        return "|".join(phones)
