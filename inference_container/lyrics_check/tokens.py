"""Lyric text -> comparable tokens: what "the same word" means when a transcript is scored against the sheet.

Rules (the same for the sheet and for what was heard):

* The text is NFKC-normalised first (full-width letters and digits, half-width kana and ligatures become the plain
  ones).
* Words (runs of letters and digits of any script but the ones below, with their combining marks) are one token
  each, case-folded, with the accents of Latin letters removed (``Café`` -> ``cafe``). An apostrophe inside a word
  joins it and is dropped (``don't`` and ``dont`` are the same token); at a word's edge it is punctuation
  (``runnin'`` -> ``runnin``). Every other character (punctuation, hyphens, spaces) separates tokens.
* Digits are kept as written: ``21`` stays ``21`` (not ``twenty-one``), a comma between digits is dropped
  (``2,000`` -> ``2000``) and a point between digits kept (``3.5``).
* Han characters (Chinese, and Japanese kanji) are one token each, read as toneless pinyin
  (``pypinyin.lazy_pinyin`` over each run of adjacent Han characters, so that polyphones read in context): a
  homophone heard for the sheet's character counts as sung (a phoneme-level comparison). The same character always
  matches itself (``Token.same``), even where its context gave it another reading.
* Kana and hangul are one token per character (katakana read as its hiragana); the prolonged-sound mark and the
  katakana middle dot are punctuation.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

Kind = Literal["word", "han", "kana", "hangul"]
APOSTROPHES = frozenset("'’‘ʼ`´")
_HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF), (0x3007, 0x3007))
_KANA = ((0x3041, 0x3096), (0x30A1, 0x30FA))
_HANGUL = ((0x1100, 0x11FF), (0x3131, 0x318E), (0xAC00, 0xD7A3))
_LATIN = ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0x24F), (0x1E00, 0x1EFF))


@dataclass(frozen=True, slots=True)
class Token:
    """One comparable unit: ``key`` (what is compared), ``surface`` (as written), its ``kind``, and whether the
    source had a separator (space, punctuation) right before it (``spaced``)."""

    key: str
    surface: str
    kind: Kind
    spaced: bool = True

    def same(self, other: Token) -> bool:
        """Whether ``other`` counts as this token sung: the same key, or the very same character or word."""
        return self.key == other.key or self.surface == other.surface


def _in(code: int, ranges: Iterable[tuple[int, int]]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def _script(char: str) -> Kind | None:
    """The kind of token ``char`` makes alone (Han, kana, hangul), else None."""
    code = ord(char)
    if code < 0x1100:
        return None
    if _in(code, _HAN):
        return "han"
    if _in(code, _KANA):
        return "kana"
    return "hangul" if _in(code, _HANGUL) else None


def _is_word_char(char: str, previous: str) -> bool:
    """A letter, a digit, or a combining mark after one (never a Han, kana or hangul character, nor a mark of the CJK
    punctuation and kana blocks such as ``ー`` and ``々``)."""
    if 0x3000 <= ord(char) <= 0x30FF:
        return False
    category = unicodedata.category(char)
    return category[0] == "L" or category == "Nd" or (category[0] == "M" and bool(previous))


def _joins(char: str, previous: str, following: str) -> bool:
    """An apostrophe inside a word (a word character on each side)."""
    return bool(previous) and char in APOSTROPHES and following.isalnum() and _script(following) is None


def word_key(word: str) -> str:
    """A word's key: case-folded, apostrophes dropped, accents of Latin letters removed.

    Example
    -------
    >>> word_key("Don\\u2019t"), word_key("CAFÉ"), word_key("Straße")
    ('dont', 'cafe', 'strasse')
    """
    folded = "".join(char for char in word.casefold() if char not in APOSTROPHES)
    kept: list[str] = []
    for char in unicodedata.normalize("NFKD", folded):
        if unicodedata.category(char)[0] == "M" and kept and _in(ord(kept[-1]), _LATIN):
            continue
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def _kana_key(char: str) -> str:
    code = ord(char)
    return chr(code - 0x60) if 0x30A1 <= code <= 0x30F6 else char


def raw_tokens(text: str) -> list[Token]:
    """``text`` cut into tokens; Han characters keyed by themselves (``read_han`` reads them)."""
    text = unicodedata.normalize("NFKC", text)
    tokens: list[Token] = []
    word: list[str] = []
    spaced = False  # a separator since the last token

    def close() -> None:
        nonlocal spaced
        if word:
            surface = "".join(word).rstrip("".join(APOSTROPHES))
            tokens.append(Token(word_key(surface), surface, "word", spaced))
            word.clear()
            spaced = False

    for index, char in enumerate(text):
        previous = word[-1] if word else ""
        following = text[index + 1] if index + 1 < len(text) else ""
        if (kind := _script(char)) is not None:
            close()
            key = _kana_key(char) if kind == "kana" else char
            tokens.append(Token(key, char, kind, spaced))
            spaced = False
        elif _is_word_char(char, previous) or _joins(char, previous, following):
            word.append(char)
        elif previous.isdigit() and following.isdigit() and char in ".,":
            if char == ".":
                word.append(char)
        else:
            close()
            spaced = True
    close()
    return tokens


@lru_cache(maxsize=4096)
def _pinyin(run: str) -> tuple[str, ...]:
    """Toneless pinyin of a run of Han characters, one syllable each (the character itself where none is known)."""
    from pypinyin import lazy_pinyin  # imported here: it loads its dictionaries (about 0.4 s)

    read = lazy_pinyin(run)
    if len(read) != len(run):
        read = [(lazy_pinyin(char) or [char])[0] for char in run]
    return tuple(read)


def read_han(tokens: Sequence[Token]) -> list[Token]:
    """``tokens`` with each run of adjacent Han characters (no separator between them) keyed by its pinyin."""
    out = list(tokens)
    start = 0
    while start < len(out):
        if out[start].kind != "han":
            start += 1
            continue
        end = start + 1
        while end < len(out) and out[end].kind == "han" and not out[end].spaced:
            end += 1
        read = _pinyin("".join(token.surface for token in out[start:end]))
        out[start:end] = [replace(token, key=key) for token, key in zip(out[start:end], read, strict=True)]
        start = end
    return out


def tokenize(text: str) -> list[Token]:
    """``text`` as comparable tokens (the rules are in the module's docstring).

    Example
    -------
    >>> [token.key for token in tokenize("Don't STOP, 我在等你! 2,000 times")]
    ['dont', 'stop', 'wo', 'zai', 'deng', 'ni', '2000', 'times']
    >>> [token.key for token in tokenize("サクラ さくら 사랑해 rock-n-roll")]
    ['さ', 'く', 'ら', 'さ', 'く', 'ら', '사', '랑', '해', 'rock', 'n', 'roll']
    """
    return read_han(raw_tokens(text))


def join(tokens: Sequence[Token]) -> str:
    """The tokens' surfaces as text: a space where the source had a separator, or between two words.

    Example
    -------
    >>> join(tokenize("Don't stop, 我在 等你"))
    "Don't stop 我在 等你"
    """
    parts: list[str] = []
    for index, token in enumerate(tokens):
        if index and (token.spaced or token.kind == "word" or tokens[index - 1].kind == "word"):
            parts.append(" ")
        parts.append(token.surface)
    return "".join(parts)
