"""VAE loading (TorchScript, as published) and chunked decoding/encoding."""

from __future__ import annotations

import pytest
import torch

from inference_container.diffrhythm.tiny import save_tiny_vae
from inference_container.diffrhythm.vae import VAE, _chunked


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    return VAE.load(save_tiny_vae(tmp_path_factory.mktemp("vae") / "vae_model.pt"))


@pytest.mark.parametrize("frames", [50, 128, 300, 2048])
def test_chunked_decoding_equals_whole_decoding_for_a_frame_local_codec(vae, frames):
    latent = torch.randn(1, frames, 64)
    whole = vae.decode(latent, chunked=False)
    assert whole.shape == (1, 2, frames * 2048)
    torch.testing.assert_close(vae.decode(latent), whole, rtol=1e-5, atol=1e-6)  # chunks: other tensors, other sums


def test_encode_gives_a_latent_per_2048_samples(vae):
    audio = torch.randn(1, 2, 2048 * 300 + 100) * 0.1
    latent = vae.encode(audio)
    assert latent.shape == (1, 300, 64)
    torch.testing.assert_close(vae.encode(audio, seed=1), vae.encode(audio, seed=1))


def test_stitching_keeps_each_window_middle_and_is_flush_with_the_end():
    calls = []

    def identity(x: torch.Tensor) -> torch.Tensor:
        calls.append((int(x[0, 0, 0]), x.shape[-1]))
        return x

    x = torch.arange(300, dtype=torch.float32)[None, None]
    out = _chunked(identity, x, 300, 1, 1, chunk=128, overlap=32)
    torch.testing.assert_close(out, x)
    assert calls == [(0, 128), (96, 128), (172, 128)]
