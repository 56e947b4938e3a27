"""VAE loading (TorchScript, as published) and chunked decoding/encoding."""

from __future__ import annotations

import pytest
import torch

from inference_container.diffrhythm.vae import HALF_TOLERANCE, VAE, _chunked, relative_error
from testing.tiny import save_tiny_vae


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


class _Scaled(torch.nn.Module):
    """A frame-local codec that multiplies on the way: large enough a ``gain`` overflows float16 (inf)."""

    def __init__(self, gain: float) -> None:
        super().__init__()
        self.gain = gain
        self.decoder = torch.nn.ConvTranspose1d(64, 2, kernel_size=2048, stride=2048)

    @torch.jit.export
    def decode_export(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(latent * self.gain) / self.gain)

    @torch.jit.export
    def encode_export(self, audio: torch.Tensor) -> torch.Tensor:
        return audio


def _save(module: torch.nn.Module, path) -> str:
    torch.jit.save(torch.jit.script(module), str(path))
    return str(path)


@pytest.mark.slow  # decodes a whole song's latent twice on the CPU (seconds)
def test_a_half_precision_decode_is_kept_within_the_stated_tolerance_of_float32(tmp_path):
    path = save_tiny_vae(tmp_path / "vae_model.pt")
    exact, half = VAE.load(path), VAE.load(path, precision="bf16")
    assert exact.half is None and half.half is not None and half.half[1] is torch.bfloat16
    latent = torch.randn(1, 300, 64)
    reference, fast = exact.decode(latent), half.decode(latent)
    assert fast.dtype is torch.float32 and fast.shape == reference.shape
    assert 0 < relative_error(fast, reference) <= HALF_TOLERANCE  # it did run in bf16, and stayed close


def test_a_decoder_that_overflows_in_half_precision_is_loaded_in_float32_only(tmp_path, caplog):
    path = _save(_Scaled(gain=1e6), tmp_path / "vae_model.pt")
    with caplog.at_level("WARNING"):
        vae = VAE.load(path, precision="fp16")
    assert vae.half is None and "decoding in float32" in caplog.text
    assert torch.isfinite(vae.decode(torch.randn(1, 40, 64))).all()


def test_a_song_whose_half_precision_audio_is_not_finite_is_decoded_again_in_float32(tmp_path, caplog):
    exact = torch.jit.load(_save(_Scaled(gain=1.0), tmp_path / "a.pt"))
    overflowing = torch.jit.load(_save(_Scaled(gain=1e6), tmp_path / "a.pt")).to(torch.float16)
    overflowing.decoder.load_state_dict(exact.decoder.state_dict())
    vae = VAE(exact, half=(overflowing, torch.float16))
    latent = torch.randn(1, 40, 64)
    with caplog.at_level("WARNING"):
        audio = vae.decode(latent)
    assert "not finite" in caplog.text
    torch.testing.assert_close(audio, VAE(exact).decode(latent))


class _FitsUpTo:
    """A frame-local codec that runs out of memory on windows longer than ``frames``."""

    def __init__(self, codec, frames: int) -> None:
        self.codec, self.frames, self.windows = codec, frames, []

    def decode_export(self, latent: torch.Tensor) -> torch.Tensor:
        self.windows.append(latent.shape[-1])
        if latent.shape[-1] > self.frames:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
        return self.codec.decode_export(latent)

    def encode_export(self, audio: torch.Tensor) -> torch.Tensor:
        return self.codec.encode_export(audio)


def test_without_a_chunk_the_whole_latent_is_decoded_and_halved_after_running_out_of_memory(vae):
    latent = torch.randn(1, 1000, 64)
    roomy = _FitsUpTo(vae.codec, 5000)
    whole = VAE(roomy, chunk=None).decode(latent)
    assert roomy.windows == [1000]

    tight = _FitsUpTo(vae.codec, 300)
    fitting = VAE(tight, chunk=None)
    torch.testing.assert_close(fitting.decode(latent), whole, rtol=1e-5, atol=1e-6)
    assert tight.windows[:3] == [1000, 500, 250] and set(tight.windows[3:]) == {250}
    assert fitting.fitted == 250
    tight.windows.clear()
    fitting.decode(latent)  # the next song starts at the window that fitted
    assert set(tight.windows) == {250}


def test_running_out_of_memory_at_the_smallest_window_is_an_error(vae):
    with pytest.raises(torch.OutOfMemoryError):
        VAE(_FitsUpTo(vae.codec, 64), chunk=None).decode(torch.randn(1, 400, 64))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_the_default_decode_is_fp16_of_the_whole_latent_within_tolerance(tmp_path):
    from inference_container.diffrhythm.device import resolve_decode

    path = save_tiny_vae(tmp_path / "vae_model.pt")
    fast = VAE.load(path, "cuda", *resolve_decode("cuda"))
    assert fast.half is not None and fast.half[1] is torch.float16 and fast.chunk is None
    latent = torch.randn(1, 3000, 64, device="cuda")
    exact = VAE.load(path, "cuda").decode(latent)
    assert relative_error(fast.decode(latent), exact) <= HALF_TOLERANCE and fast.fitted is None
