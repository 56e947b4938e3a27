"""TINY RANDOM TEST MODELS: same file formats and tensor shapes as DiffRhythm, none of its knowledge.

They make the whole pipeline run on a CPU in seconds for tests and the local demo. Their audio is noise. Everything
built here is labelled ``TINY_LABEL``; a bundle made of them says so in its manifest and in every output's metadata.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from inference_container.diffrhythm.config import HOP, LATENT_CHANNELS, DiTConfig
from inference_container.diffrhythm.model import DiT

TINY_LABEL = "TINY RANDOM TEST MODEL (not DiffRhythm: output is noise)"
TINY_DIT = {"dim": 64, "depth": 2, "heads": 8, "ff_mult": 2, "text_dim": 512, "conv_layers": 1, "mel_dim": 64,
            "text_num_embeds": 363}


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
