"""TINY RANDOM TEST MODELS: same file formats and tensor shapes as DiffRhythm, none of its knowledge.

They make the whole pipeline run on a CPU in seconds for tests and the local demo. Their audio is noise. Everything
built here is labelled ``TINY_LABEL``; a bundle made of them says so in its manifest and in every output's metadata.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from inference_container.diffrhythm.bundle.fetch import write_manifest
from inference_container.diffrhythm.bundle.layout import CHINESE_MODEL_DIR, STEMS_FILE, WHISPER_DIR, dit_file
from inference_container.diffrhythm.bundle.reader import Bundle
from inference_container.diffrhythm.config import LATENT_CHANNELS, DiTConfig
from inference_container.diffrhythm.model import DiT
from shared.timeline import HOP, VARIANTS

TINY_LABEL = "TINY RANDOM TEST MODEL (not DiffRhythm: output is noise)"
TINY_DIT = {"dim": 64, "depth": 2, "heads": 8, "ff_mult": 2, "text_dim": 512, "conv_layers": 1, "mel_dim": 64,
            "text_num_embeds": 363}
#: a tiny htdemucs (the published one: 48 channels, 5 transformer layers, 7.8 s segments), its arguments as published
TINY_WHISPER_TOKENS = 32  # the bundle's tiny Whisper decodes at most this many tokens a window (its words are noise)
TINY_SEPARATOR: dict[str, Any] = {
    "sources": ["drums", "bass", "other", "vocals"], "audio_channels": 2, "samplerate": 44100, "segment": Fraction(1),
    "channels": 4, "depth": 4, "t_layers": 1, "t_heads": 2, "dconv_comp": 4}


class TinyVAE(nn.Module):
    """A frame-local codec with the published VAE's methods and shapes (one strided (de)convolution each way)."""

    def __init__(self) -> None:
        super().__init__()
        self.decoder = nn.ConvTranspose1d(LATENT_CHANNELS, 2, kernel_size=HOP, stride=HOP)
        self.encoder = nn.Conv1d(2, 2 * LATENT_CHANNELS, kernel_size=HOP, stride=HOP)

    @torch.jit.export
    def decode_export(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(latent))

    @torch.jit.export
    def encode_export(self, audio: torch.Tensor) -> torch.Tensor:
        return self.encoder(audio)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decode_export(latent)


def save_tiny_vae(path: str | Path, seed: int = 0) -> Path:
    """Write a TorchScript ``vae_model.pt`` like the published one."""
    torch.manual_seed(seed)
    module = TinyVAE()
    with torch.no_grad():
        module.decoder.weight.normal_(0, 0.02)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.script(module), str(path))
    return path


#: the phones espeak-ng produces for English, plus punctuation: the tiny bundle's vocabulary (ids are arbitrary)
TINY_PHONES = [
    ",", ".", "?", "!", "_", "iː", "ɪ", "ɜː", "ɚ", "oːɹ", "ɔː", "ɔːɹ", "ɑː", "uː", "ʊ", "ɑːɹ", "ʌ", "ɛ", "æ", "eɪ",
    "aɪ", "ɔɪ", "aʊ", "oʊ", "ɪɹ", "ɛɹ", "ʊɹ", "p", "b", "t", "d", "k", "ɡ", "f", "v", "θ", "ð", "s", "z", "ʃ", "ʒ",
    "h", "tʃ", "dʒ", "m", "n", "ŋ", "j", "w", "ɹ", "l", "tɹ", "dɹ", "ts", "dz", "i", "ɔ", "ə", "ɾ", "iə", "r", "u",
    "oː", "ɛː", "ɪː", "aɪə", "aɪɚ", ":", ";", "'", "…",
]


def _mandarin_phones() -> list[str]:
    """Every phone the Mandarin G2P can produce (initials, and finals with each tone)."""
    from inference_container.diffrhythm.g2p import mandarin

    tones = ["", "→", "↑", "↓↑", "↓"]
    phones = list(mandarin._INITIALS.values())
    phones += [final + tone for final in mandarin._FINALS.values() for tone in tones]
    phones += [f"{mandarin._INITIALS[i]}ɹ{tone}" for i in mandarin._BARE for tone in tones]
    phones += [f"{mandarin._INITIALS[i]}wo{tone}" for i in mandarin._LIP for tone in tones]
    return phones


def make_test_weights(root: str | Path, variants: tuple[str, ...] = tuple(VARIANTS), seed: int = 0) -> Path:
    """Write a complete TINY RANDOM bundle (the layout of ``bundle/layout.py``) and its manifest; returns ``root``."""
    from testing.tiny_g2p import save_tiny_chinese_model
    from testing.tiny_mulan import save_tiny_mulan
    from testing.tiny_whisper import save_tiny_whisper

    root = Path(root)
    bundle = Bundle(root)  # its paths: the layout is written exactly where the pipeline reads it
    for path in (bundle.dit_config, bundle.vocab):
        path.parent.mkdir(parents=True, exist_ok=True)
    bundle.dit_config.write_text(json.dumps({"model_type": "diffrhythm", "model": TINY_DIT, "note": TINY_LABEL},
                                            indent=1))
    for variant in variants:
        save_tiny_dit(root / dit_file(variant), VARIANTS[variant].max_frames, seed)
    save_tiny_vae(bundle.vae, seed)
    save_tiny_mulan(bundle.style, seed)
    negative = np.random.default_rng(seed).normal(size=(1, 512)).astype(np.float32)
    np.save(bundle.negative_style, negative / np.linalg.norm(negative))
    phones = list(dict.fromkeys(TINY_PHONES + _mandarin_phones()))
    vocab = {"note": TINY_LABEL, "vocab": {phone: i for i, phone in enumerate(phones)}}
    bundle.vocab.write_text(json.dumps(vocab, ensure_ascii=False, indent=1), encoding="utf-8")
    bundle.lexicon.write_text("你好\tni3 hao3\n银行\tyin2 hang2\n", encoding="utf-8")
    save_tiny_chinese_model(root / CHINESE_MODEL_DIR)  # upstream's polyphone model, in its layout
    save_tiny_separator(root / STEMS_FILE, seed)
    save_tiny_whisper(root / WHISPER_DIR, seed, max_length=TINY_WHISPER_TOKENS)
    write_manifest(root, TINY_LABEL, variants, {"": "generated by diffrhythm make-test-weights"})
    return root


def save_tiny_dit(path: str | Path, max_frames: int, seed: int = 0) -> Path:
    """Write a random DiT in the published ``cfm_model.pt`` layout (``{"model_state_dict": {"transformer.*"}}``)."""
    torch.manual_seed(seed)
    model = DiT(DiTConfig(**TINY_DIT, max_frames=max_frames))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.05)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_state_dict": {f"transformer.{k}": v for k, v in model.state_dict().items()}}, path)
    return path


def save_tiny_separator(path: str | Path, seed: int = 0) -> Path:
    """Write a random htdemucs (``TINY_SEPARATOR``) in Demucs' published ``.th`` layout: ``{"klass", "args",
    "kwargs", "state" (float16, as published), "training_args", "metrics"}``."""
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(seed)
    kwargs = dict(TINY_SEPARATOR)
    model = HTDemucs(**kwargs)
    state = {name: tensor.half() for name, tensor in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"klass": HTDemucs, "args": (), "kwargs": kwargs, "state": state,
                "training_args": {"note": TINY_LABEL}, "metrics": (None, None)}, path)
    return path
