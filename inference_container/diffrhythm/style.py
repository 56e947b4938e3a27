"""Style embeddings from MuQ-MuLan (the ``muq`` package), loaded offline from a weights bundle.

Text prompts are embedded one at a time (MuQ-MuLan mean-pools padding, so batching would change the result) and
cached by prompt. A reference clip must be at least 10 s long; its middle 10 s, mono at 24 kHz, is embedded.
Every embedding has unit L2 norm (MuQ-MuLan's own normalisation), and so has a mix of a text and a clip.
A generated song's ``score`` is its cosine similarity to the style it was made with: the song's embedding is the
normalised mean of the embeddings of ``SCORE_WINDOWS`` 10 s windows spread over it (``score_windows``), so an intro
or an outro alone does not decide it.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference_container.diffrhythm.bundle.layout import MULAN_DIR
from inference_container.errors import InputError

CLIP_SECONDS = 10.0
MULAN_RATE = 24000
SCORE_WINDOWS = 3


class ReferenceAudioError(InputError):
    """The reference clip cannot be used (too short, silent, unreadable); the message says what is needed."""


def clip_window(frames: int, rate: int, seconds: float = CLIP_SECONDS) -> tuple[int, int]:
    """``(start, count)``: the frames of a clip of ``frames`` frames at ``rate`` that its embedding uses (its middle
    ``seconds``; all of it when shorter). The worker decodes only these.

    Example
    -------
    >>> clip_window(30 * 8000, 8000)
    (80000, 80000)
    """
    count = int(seconds * rate)
    return ((frames - count) // 2, count) if frames > count else (0, frames)


def score_windows(frames: int, rate: int, count: int = SCORE_WINDOWS, seconds: float = CLIP_SECONDS
                  ) -> list[tuple[int, int]]:
    """``(start, count)`` of the windows a song's score embeds: ``count`` windows of ``seconds``, their starts at
    1/4, 1/2 and 3/4 (for three) of the room the song leaves (the middle one is ``clip_window``'s); one window of
    all of it when the song is shorter than ``seconds``.

    Example
    -------
    >>> score_windows(40 * 10, 10)
    [(75, 100), (150, 100), (225, 100)]
    """
    size = int(seconds * rate)
    if frames <= size:
        return [(0, frames)]
    return [((frames - size) * (k + 1) // (count + 1), size) for k in range(count)]


def _mono(audio: np.ndarray) -> np.ndarray:
    return audio.mean(axis=1) if audio.ndim == 2 else audio


def reference_clip(audio: np.ndarray, rate: int, seconds: float = CLIP_SECONDS) -> torch.Tensor:
    """The middle ``seconds`` of ``audio`` ([samples] or [samples, channels]) as mono 24 kHz float32 [1, n]."""
    samples = audio.shape[0]
    length = samples / rate
    if length < seconds:
        raise ReferenceAudioError(f"the reference clip is {length:.1f} s long; at least {seconds:g} s are needed")
    mono = _mono(audio)
    start, count = clip_window(samples, rate, seconds)
    clip = torch.from_numpy(np.ascontiguousarray(mono[start:start + count], dtype=np.float32))
    if not torch.isfinite(clip).all() or float(clip.abs().max()) == 0.0:
        raise ReferenceAudioError("the middle 10 s of the reference clip are silent or damaged")
    import torchaudio.functional

    return torchaudio.functional.resample(clip, rate, MULAN_RATE)[None]


def load_mulan(style_dir: str | Path, device: str | torch.device = "cpu") -> Any:
    """MuQ-MuLan from ``style_dir`` (``muq-mulan/`` beside its audio and text towers), strictly and offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"  # before muq/transformers look at the hub
    from muq import MuQMuLan

    root = Path(style_dir).resolve()
    config = json.loads((root / MULAN_DIR / "config.json").read_text())
    for part in ("audio_model", "text_model"):
        config[part]["name"] = str(root / config[part]["name"])  # sub-models live beside, named relatively
    model = MuQMuLan.from_pretrained(str(root / MULAN_DIR), config=config, strict=True)
    return model.to(device).eval()


class StyleEncoder:
    """Text and audio style embeddings [1, 512] (float32), with a per-prompt cache of text embeddings."""

    def __init__(self, mulan: Any, negative: torch.Tensor) -> None:
        self.mulan = mulan
        self.negative = negative.float().reshape(1, -1)
        self._text = lru_cache(maxsize=512)(self._embed_text)

    @classmethod
    def load(cls, style_dir: str | Path, negative_style: str | Path, device: str | torch.device = "cpu"
             ) -> StyleEncoder:
        """MuQ-MuLan from ``style_dir`` and the negative style prompt (a ``[1, 512]`` ``.npy``)."""
        negative = torch.from_numpy(np.load(negative_style)).to(device)
        return cls(load_mulan(style_dir, device), negative)

    @property
    def device(self) -> torch.device:
        return self.negative.device

    def _embed_text(self, prompt: str) -> torch.Tensor:
        with torch.inference_mode():
            return self.mulan(texts=[prompt]).float()

    def text(self, prompt: str) -> torch.Tensor:
        """Embedding of a text prompt (cached)."""
        return self._text(prompt.strip())

    def audio(self, audio: np.ndarray, rate: int) -> torch.Tensor:
        """Embedding of a reference clip (see ``reference_clip``)."""
        clip = reference_clip(audio, rate).to(self.device)
        with torch.inference_mode():
            return self.mulan(wavs=clip).float()

    def mix(self, text_embedding: torch.Tensor, audio_embedding: torch.Tensor, weight: float) -> torch.Tensor:
        """A text and a clip embedding mixed, ``weight`` being the text's share (0..1), normalised like each."""
        if not 0.0 <= weight <= 1.0:
            raise InputError(f"style_weight must be between 0 and 1, got {weight}")
        return torch.nn.functional.normalize(weight * text_embedding + (1.0 - weight) * audio_embedding, dim=-1)

    def score(self, audio: np.ndarray, rate: int, style: torch.Tensor) -> float:
        """How well a song ([samples] or [samples, channels] at ``rate``) matches ``style`` [1, 512]: the cosine
        similarity (-1..1) of the song's embedding (see the module) and the style."""
        import torchaudio.functional

        mono = _mono(audio)
        windows = torch.stack([torch.from_numpy(np.ascontiguousarray(mono[start:start + count], dtype=np.float32))
                               for start, count in score_windows(mono.shape[0], rate)])
        clips = torchaudio.functional.resample(windows, rate, MULAN_RATE).to(self.device)
        with torch.inference_mode():
            song = self.mulan(wavs=clips).float().mean(dim=0)
        similarity = torch.nn.functional.cosine_similarity(song, style.reshape(-1).to(song), dim=0)
        return max(-1.0, min(1.0, float(similarity)))
