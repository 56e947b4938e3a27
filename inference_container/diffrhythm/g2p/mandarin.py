"""Mandarin lyrics -> phoneme string ``"n|i↑|x|ɑʊ↓↑"`` in the DiT's vocabulary, as upstream's G2P reads them.

The text is normalised as upstream does (numbers to Chinese numerals with cn2an, wide punctuation to ``,.?!;:'…``,
everything else but Han characters and ``_`` removed), cut into words with jieba and regrouped around 一, 不 and 儿
(``sandhi.regroup``). Each word is then read as upstream reads it:

* a word of the lexicon (``chinese_lexicon.txt``: ``word<TAB>ni3 hao3``) from the lexicon, unless it is a single
  polyphonic character;
* otherwise character by character: a polyphonic character (``polychar.txt``) as the polyphone model reads it in the
  whole run (``polyphone.PolyphoneModel``), any other from the lexicon.

Without the polyphone model's files (``fallback``, with a warning), a word the lexicon does not have is read by
pypinyin, whose phrase dictionary resolves polyphones by context (银行 hang2, 行走 xing2) but not always (83 of the 102
polyphones of tests/model/data/mandarin_polyphones.tsv). A Han character neither the lexicon nor the model reads is
read by pypinyin too (upstream keeps it as it is, and no phone of the vocabulary matches it). Tone changes follow
upstream (``sandhi.apply``). Each syllable becomes an initial phone and a final phone carrying its tone arrow (→ 1,
↑ 2, ↓↑ 3, ↓ 4, none for the neutral tone), as upstream's pinyin -> bopomofo -> IPA tables give them.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inference_container.diffrhythm.g2p import sandhi
from inference_container.diffrhythm.g2p.english import PUNCTUATION, WIDE_PUNCTUATION

if TYPE_CHECKING:
    from inference_container.diffrhythm.g2p.polyphone import PolyphoneModel

log = logging.getLogger(__name__)

FALLBACK_NOTE = ("Mandarin polyphones were read without upstream's polyphone model (its files are not in the weights "
                 "bundle): some characters may be sung with another reading")
_KEPT = PUNCTUATION + "_"  # what normalisation keeps beside Han characters
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
_Y_W = {"yi": "i", "ya": "ia", "ye": "ie", "yao": "iao", "you": "iu", "yin": "in", "yang": "iang",
        "ying": "ing", "yong": "iong", "yu": "v", "yue": "ve", "yve": "ve", "yuan": "van", "yun": "vn", "wu": "u",
        "wa": "ua", "wo": "uo", "wai": "uai", "wei": "ui", "wan": "uan", "wen": "un", "wang": "uang", "weng": "ong",
        "wong": "ong", "yan": "ian", "tsuo": "cuo", "tzan": "zan"}
#: syllables whose bopomofo upstream spells as a sequence: the phones, the tone going on the last
_SPELLED = {"m": ["m", "u"], "n": ["ən"], "ng": ["ən"], "hm": ["xm"], "yo": ["i", "o"], "yai": ["i", "aɪ"]}
_BARE = {"zh", "ch", "sh", "r", "z", "c", "s"}  # zhi chi shi ri zi ci si: the vowel is the initial's buzz
_LIP = {"b", "p", "m", "f"}  # bo po mo fo are single phones


def syllable_phones(pinyin: str) -> list[str]:
    """One pinyin syllable with a tone digit -> its phones, as upstream's bopomofo -> IPA tables give them ([] for
    what is not a syllable).

    A neutral-tone zhi, chi, shi, ri, zi, ci or si is its initial alone (upstream adds the buzz only before a tone).

    Example
    -------
    >>> syllable_phones("zhong1"), syllable_phones("shi4"), syllable_phones("bo2"), syllable_phones("lv4")
    (['ts`⁼', 'ʊŋ→'], ['s`ɹ↓'], ['p⁼wo↑'], ['l', 'ɥ↓'])
    >>> syllable_phones("zi5"), syllable_phones("nue4"), syllable_phones("m2")
    (['ts⁼'], ['n', 'ɥɛ↓'], ['m', 'u↑'])
    """
    if not pinyin:
        return []
    tone = _TONES.get(pinyin[-1], "") if pinyin[-1].isdigit() else "→"
    body = pinyin.rstrip("012345").replace("ü", "v")
    if body in _SPELLED:
        *first, last = _SPELLED[body]
        return [*first, last + tone]
    body = _Y_W.get(body, body)
    initial = next((i for i in ("zh", "ch", "sh") if body.startswith(i)), body[:1] if body[:1] in _INITIALS else "")
    final = body[len(initial):]
    if initial in ("j", "q", "x") and final.startswith("u"):
        final = "v" + final[1:]  # ju quan xue: ü written u
    elif initial in ("l", "n") and final == "ue":
        final = "ve"  # lue nue: lüe nüe
    if final in ("", "i") and initial in _BARE:
        return [f"{_INITIALS[initial]}ɹ{tone}" if tone else _INITIALS[initial]]
    if initial in _LIP and final == "o":
        return [f"{_INITIALS[initial]}wo{tone}"]
    if final not in _FINALS:
        return []  # not a Mandarin syllable (e.g. an interjection pypinyin kept as is)
    phones = [_INITIALS[initial]] if initial else []
    return [*phones, _FINALS[final] + tone]


def is_syllable(item: str) -> bool:
    """Tone-numbered pinyin that ``syllable_phones`` reads (upstream's test before it takes a lexicon reading)."""
    return len(item) > 1 and item[-1] in "012345" and bool(syllable_phones(item))


def normalize(text: str) -> str:
    """Upstream's normalisation of a Mandarin run: numbers in Chinese numerals, wide punctuation narrowed, spaces and
    every other character than Han, ``_`` and ``,.?!;:'…`` removed.

    Example
    -------
    >>> normalize("我有 3 个苹果 (ok)...")
    '我有三个苹果…'
    """
    import cn2an

    text = cn2an.transform(text.strip(), "an2cn")
    for wide, narrow in WIDE_PUNCTUATION.items():
        text = text.replace(wide, narrow)
    return re.sub(rf"[^\u4e00-\u9fff{re.escape(_KEPT)}]", "", text)


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(60)
    return jieba


@lru_cache(maxsize=4096)
def _pypinyin(text: str) -> tuple[str, ...]:
    """One tone-numbered reading per character: pypinyin's for Han runs (phrases in context), others as they are."""
    from pypinyin import Style, lazy_pinyin

    items: list[str] = []
    for run in re.findall(r"[\u4e00-\u9fff]+|[^\u4e00-\u9fff]", text):
        if not _is_han(run[0]):
            items.append(run)
            continue
        read = lazy_pinyin(run, style=Style.TONE3, neutral_tone_with_five=True)
        if len(read) != len(run):  # characters pypinyin does not know came back grouped
            read = [lazy_pinyin(char, style=Style.TONE3, neutral_tone_with_five=True)[0] for char in run]
        items += read
    return tuple(items)


_warned: set[str] = set()  # the warnings this process has logged


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


class MandarinG2P:
    """``g2p(text, sentence) -> phones`` for Han runs; ``lexicon`` maps words to ``"ni3 hao3"``; ``polyphones`` is
    upstream's polyphone model (None: the pypinyin fallback)."""

    def __init__(self, lexicon: dict[str, str] | None = None, polyphones: PolyphoneModel | None = None) -> None:
        self.lexicon = lexicon or {}
        self.polyphones = polyphones

    @classmethod
    def load(cls, lexicon_path: str | Path | None, model_dir: str | Path | None = None) -> MandarinG2P:
        """With the bundle's lexicon file (``word<TAB>pinyin``) and polyphone model directory, where it has them.

        Without the model's files the pypinyin fallback reads polyphones, and a warning is logged (once)."""
        from inference_container.diffrhythm.g2p.polyphone import PolyphoneModel

        lexicon = {}
        if lexicon_path and Path(lexicon_path).is_file():
            for line in Path(lexicon_path).read_text(encoding="utf-8").splitlines():
                word, _, pinyin = line.strip().partition("\t")
                if pinyin:
                    lexicon[word] = pinyin
        polyphones = PolyphoneModel.load(model_dir) if model_dir and PolyphoneModel.present(model_dir) else None
        if polyphones is None:
            _warn_once("fallback", f"{FALLBACK_NOTE} (looked in {model_dir})")
        return cls(lexicon, polyphones)

    @property
    def fallback(self) -> bool:
        """Whether polyphones are read by pypinyin rather than upstream's model."""
        return self.polyphones is None

    def readings(self, text: str) -> list[tuple[str, list[str]]]:
        """The run's words (normalised, regrouped) with one reading per character, before tone changes."""
        text = normalize(text)
        model, predicted = self.polyphones, list[str]()
        read: list[tuple[str, list[str]]] = []
        start = 0  # upstream's index of the word in the run (it lags behind where a regrouping dropped a 不)
        for word in sandhi.regroup(_jieba().lcut(text, cut_all=False)):
            items = self._from_lexicon(word)
            if items is None and model is None:
                items = list(_pypinyin(word))
            elif items is None:
                items = []
                for offset, char in enumerate(word):
                    if model is not None and char in model.characters:
                        predicted = predicted or model.predict(text)  # one run of the model per run
                        items.append(predicted[start + offset])
                    elif char in self.lexicon and is_syllable(self.lexicon[char]):
                        items.append(self.lexicon[char])
                    else:  # upstream keeps a Han character it cannot read, which no phone matches
                        items.append(_pypinyin(char)[0])
            read.append((word, items))
            start += len(word)
        return read

    def _from_lexicon(self, word: str) -> list[str] | None:
        """Upstream's whole-word lexicon reading (None: not a lexicon word, or a lone polyphonic character, which the
        model reads). A syllable the phone tables do not know is replaced, as upstream does, by pypinyin's reading of
        the whole word."""
        entry = self.lexicon.get(word)
        if entry is None or (self.polyphones is not None and word in self.polyphones.characters):
            return None
        items: list[str] = []
        for syllable in entry.split(" "):
            items += [syllable] if is_syllable(syllable) else _pypinyin(word)
        return items

    def __call__(self, text: str, sentence: str = "") -> str:
        phones: list[str] = []
        for word, items in self.readings(text):
            for item in sandhi.apply(word, items) if any(map(_is_han, word)) else items:
                phones += syllable_phones(item) if sandhi.tone(item) else [item]
        joined = re.sub(rf"([{re.escape(PUNCTUATION)}])", r"|\1|", "|".join(phones))
        return re.sub(r"\|+", "|", joined).strip("|")
