"""Grapheme-to-phoneme front end: lyrics text -> the DiT's phoneme token ids (vocabulary ``vocab.json``)."""

from inference_container.diffrhythm.g2p.tokenizer import LyricsTokenizer, UnsupportedLyricsError

__all__ = ["LyricsTokenizer", "UnsupportedLyricsError"]
