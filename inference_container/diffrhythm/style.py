"""Style embeddings from MuQ-MuLan (the ``muq`` package), loaded offline from a weights bundle.

Text prompts are embedded one at a time (MuQ-MuLan mean-pools padding, so batching would change the result) and
cached by prompt. A reference clip must be at least 10 s long; its middle 10 s, mono at 24 kHz, is embedded.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inference_container.diffrhythm.weights import MULAN_DIR
from inference_container.errors import InputError

CLIP_SECONDS = 10.0
MULAN_RATE = 24000


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


def reference_clip(audio: np.ndarray, rate: int, seconds: float = CLIP_SECONDS) -> torch.Tensor:
    """The middle ``seconds`` of ``audio`` ([samples] or [samples, channels]) as mono 24 kHz float32 [1, n]."""
    samples = audio.shape[0]
    length = samples / rate
    if length < seconds:
        raise ReferenceAudioError(f"the reference clip is {length:.1f} s long; at least {seconds:g} s are needed")
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
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
