"""Mixed-language lyrics -> token ids: split into Latin and Han runs, phonemise each, look phones up in the vocab.

Ids are shifted by one for the model (0 is the filler). Phones missing from the vocabulary are dropped, as upstream
drops them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from inference_container.diffrhythm.g2p import english
from inference_container.diffrhythm.g2p.mandarin import FALLBACK_NOTE, MandarinG2P
from inference_container.errors import InputError


class UnsupportedLyricsError(InputError):
    """The lyrics use a script this front end cannot phonemise; the message names it."""


def _kind(ch: str) -> str:
    if "\u4e00" <= ch <= "\u9fa5":
        return "zh"
    if ch.isascii() and ch.isalpha():
        return "en"
    return "other"


def segments(text: str) -> list[tuple[str, str]]:
    """Runs of one language; spaces, digits and punctuation stay with the run they follow.

    Example
    -------
    >>> segments("你好, hello 世界")
    [('你好, ', 'zh'), ('hello ', 'en'), ('世界', 'zh')]
    """
    runs: list[tuple[str, str]] = []
    current, lang = "", ""
    for ch in text:
        kind = _kind(ch)
        if not current:
            current, lang = ch, kind
        elif kind in ("other", lang):
            current += ch
        elif lang == "other":
            current, lang = current + ch, kind
        else:
            runs.append((current, lang))
            current, lang = ch, kind
    if current:
        runs.append((current, lang))
    return runs


class LyricsTokenizer:
    """``encode(text) -> ids`` with a phoneme vocabulary (``{"vocab": {phone: id}}``)."""

    def __init__(self, vocab: dict[str, int], mandarin: Callable[[str, str], str] | None = None) -> None:
        self.vocab = vocab
        self.mandarin = mandarin

    @classmethod
    def load(cls, vocab_path: str | Path, lexicon_path: str | Path | None = None,
             chinese_model: str | Path | None = None) -> LyricsTokenizer:
        """From a phoneme vocabulary (``{"vocab": {phone: id}}``), upstream's Mandarin lexicon and the directory of its
        polyphone model (``polyphone.FILES``), where the bundle has them (without the model: the pypinyin fallback)."""
        vocab = json.loads(Path(vocab_path).read_text(encoding="utf-8"))["vocab"]
        return cls(vocab, MandarinG2P.load(lexicon_path, chinese_model))

    def note(self, text: str) -> str | None:
        """A warning for the song where this line's Mandarin is read by the pypinyin fallback, else None."""
        fallback = isinstance(self.mandarin, MandarinG2P) and self.mandarin.fallback
        return FALLBACK_NOTE if fallback and any(lang == "zh" for _, lang in segments(text)) else None

    def phonemes(self, text: str) -> str:
        """The phone string of a line (segments joined by ``|``)."""
        parts = []
        runs = segments(text)
        for index, (run, lang) in enumerate(runs):
            if lang == "zh":
                if self.mandarin is None:
                    raise UnsupportedLyricsError(f"Mandarin lyrics ({run.strip()!r}) are not supported yet")
                phones = self.mandarin(run, text)
            else:
                phones = english.to_phonemes(run)
            if lang == "en" and index == len(runs) - 1 and phones.endswith("|_"):
                phones = phones[:-2]  # no word boundary after the line's last word
            if phones:
                parts.append(phones)
        return "|".join(parts)

    def encode(self, text: str) -> list[int]:
        """Token ids for the model (vocabulary id + 1)."""
        return [self.vocab[p] + 1 for p in self.phonemes(text).split("|") if p in self.vocab]
