"""English lyrics -> phoneme string ``"h|ə|l|oʊ|_|w|ɜː|l|d"`` the way DiffRhythm's front end produces it.

Text normalisation (numbers, currency, percentages, fractions, ordinals, abbreviations) then espeak-ng (en-us)
through phonemizer, phones separated by ``|`` and words by ``_``; punctuation ``, . ? ! ; : ' …`` stays as a phone;
a few espeak phones are merged or mapped to the vocabulary's inventory.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from inference_container.errors import InputError
from shared.lrc import MAX_NUMBER_DIGITS

PUNCTUATION = ",.?!;:'…"
WIDE_PUNCTUATION = {"，": ",", "。": ".", "！": "!", "？": "?", "；": ";", "：": ":", "、": ",", "‘": "'", "’": "'",
                     "⋯": "…", "···": "…", "・・・": "…", "...": "…"}
_ABBREVIATIONS = {
    "mrs": "misess", "mr": "mister", "dr": "doctor", "st": "saint", "co": "company", "jr": "junior", "maj": "major",
    "gen": "general", "drs": "doctors", "rev": "reverend", "lt": "lieutenant", "hon": "honorable",
    "sgt": "sergeant", "capt": "captain", "esq": "esquire", "ltd": "limited", "col": "colonel", "ft": "fort",
    "etc": "et cetera", "btw": "by the way",
}
_ABBREVIATION_RE = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\b", re.IGNORECASE)
#: phone sequences espeak splits that the vocabulary has as one token, and phones it lacks
_MERGES = [("t|ɹ", "tɹ"), ("d|ɹ", "dɹ"), ("t|s", "ts"), ("d|z", "dz"), ("ɪ|ɹ", "ɪɹ"), ("ɐ", "ɚ"), ("ᵻ", "ɪ"),
           ("əl", "l"), ("x", "k"), ("ɬ", "l"), ("ʔ", "t"), ("n̩", "n"), ("oː|ɹ", "oːɹ")]
#: a line whose last phone is one of these gets a closing word boundary (dropped again at the end of a line)
_OPEN_ENDINGS = "p⁼ʰmftnlkxʃs`ɹaoəɛɪeɑʊŋiuɥwæjː"


@lru_cache(maxsize=1)
def _inflect() -> Any:
    import inflect

    return inflect.engine()


def _say_number(match: re.Match[str]) -> str:
    number = int(match.group(0))
    words = _inflect()
    if 1000 < number < 3000:  # read like a year
        if number == 2000:
            return " two thousand "
        if 2000 < number < 2010:
            return f" two thousand {words.number_to_words(number % 100)} "
        if number % 100 == 0:
            return f" {words.number_to_words(number // 100)} hundred "
        return " " + words.number_to_words(number, andword="", zero="oh", group=2).replace(", ", " ") + " "
    return " " + words.number_to_words(number, andword="") + " "


def _say_money(match: re.Match[str]) -> str:
    parts = match.group(1).split(".")
    if len(parts) > 2:
        return f" {match.group(1)} dollars "
    dollars = int(parts[0]) if parts[0] else 0
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    said = [f"{dollars} dollar{'s' if dollars != 1 else ''}"] if dollars else []
    said += [f"{cents} cent{'s' if cents != 1 else ''}"] if cents else []
    return " " + (", ".join(said) if said else "zero dollars") + " "


def _say_fraction(match: re.Match[str]) -> str:
    top, bottom = int(match.group(1)), int(match.group(2))
    words = _inflect()
    special = {(1, 2): "one half", (1, 4): "one quarter"}
    if (top, bottom) in special:
        return f" {special[top, bottom]} "
    if bottom in (2, 4):
        return f" {words.number_to_words(top)} {'halves' if bottom == 2 else 'quarters'} "
    return f" {words.number_to_words(top)} {words.ordinal(words.number_to_words(bottom))} "


def normalize(text: str) -> str:
    """Spell out what espeak would read differently from a singer.

    Example
    -------
    >>> normalize("I owe $5 to 2 friends").split()
    ['I', 'owe', 'five', 'dollars', 'to', 'two', 'friends']
    """
    text = _ABBREVIATION_RE.sub(lambda m: _ABBREVIATIONS[m.group(1).lower()], text)
    text = re.sub(r"([0-9][0-9,]+[0-9])", lambda m: m.group(1).replace(",", ""), text)
    if too_long := re.search(rf"[0-9]{{{MAX_NUMBER_DIGITS + 1},}}", text):
        raise InputError(f"the number {too_long.group(0)[:20]}... is too long to sing (at most {MAX_NUMBER_DIGITS} "
                         "digits); write it in words")
    text = re.sub(r"£([0-9,]*[0-9]+)", r"\1 pounds", text)
    text = re.sub(r"\$([0-9.,]*[0-9]+)", _say_money, text)
    text = re.sub(r"([0-9]+)/([0-9]+)", _say_fraction, text)
    text = re.sub(r"([0-9]+\.[0-9]+)", lambda m: m.group(1).replace(".", " point "), text)
    text = re.sub(r"([0-9.,]*[0-9]+%)", lambda m: m.group(1).replace("%", " percent "), text)
    text = re.sub(r"[0-9]+(st|nd|rd|th)", lambda m: " " + _inflect().number_to_words(m.group(0)) + " ", text)
    return re.sub(r"[0-9]+", lambda m: _say_number(m) if m.group(0).isdigit() else m.group(0), text)


def clean(text: str) -> str:
    """Unify punctuation, drop symbols espeak should not see (quotes, hyphens, emoji) and tidy spaces."""
    for wide, narrow in WIDE_PUNCTUATION.items():
        text = text.replace(wide, narrow)
    text = re.sub(rf"[^\w\s_{re.escape(PUNCTUATION)}]", "", text.strip())
    text = re.sub(rf"\s*([{re.escape(PUNCTUATION)}])\s*", r"\1", text)
    return re.sub(r"\s+", " ", text)


@lru_cache(maxsize=1)
def _espeak() -> Any:
    from phonemizer.backend import EspeakBackend

    return EspeakBackend("en-us", punctuation_marks=PUNCTUATION, preserve_punctuation=True, with_stress=False,
                         tie=False, language_switch="remove-flags", words_mismatch="ignore")


def _merge(phones: str) -> str:
    for sequence, merged in _MERGES:
        pattern = re.compile(rf"(^|[_|]){re.escape(sequence)}([_|]|$)")
        while pattern.search(phones):
            phones = pattern.sub(rf"\g<1>{merged}\g<2>", phones)
    return phones


def to_phonemes(text: str) -> str:
    """Phones of an English segment, ``|``-separated, ``_`` between words.

    Example
    -------
    >>> to_phonemes("hello world")
    'h|ə|l|oʊ|_|w|ɜː|l|d'
    """
    from phonemizer.separator import Separator

    cleaned = clean(normalize(text))
    if not cleaned:
        return ""
    phones = _espeak().phonemize([cleaned], separator=Separator(word="|_|", syllable="-", phone="|"), strip=True,
                                 njobs=1)[0]
    phones = re.sub(rf"([{re.escape(PUNCTUATION)}])", r"|\1|", phones)
    phones = re.sub(r"\|+", "|", phones).rstrip("|")
    if phones and phones[-1] in _OPEN_ENDINGS:
        phones += "|_"
    return _merge(phones)
