"""The whole pipeline on the tiny random bundle: variations and seeds, edit mode, reference clips, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference_container.audio import AudioQualityError
from inference_container.diffrhythm.bundle.reader import Bundle, BundleError
from inference_container.diffrhythm.songs import SongRequest
from inference_container.diffrhythm.style import ReferenceAudioError
from tests.support.songs import request_for

pytestmark = pytest.mark.slow  # the whole pipeline on the tiny bundle (building it loads MuQ-MuLan's code)

LRC = "[00:01.00]hello world\n[00:05.00]sing it again\n[00:09.00]end"


def _request(**overrides) -> SongRequest:
    return request_for(LRC, **{"style_prompt": "pop", "steps": 3, **overrides})


def test_variations_differ_by_seed_and_repeat_for_the_same_seed(tiny_pipeline):
    song = tiny_pipeline.generate(_request(seed=11, batch_size=2))
    first, second = song.audio
    assert first.shape == second.shape == (2048 * 2048, 2) and song.rate == 44100
    assert not np.allclose(first, second)
    again = tiny_pipeline.generate(_request(seed=11, batch_size=1)).audio[0]
    np.testing.assert_allclose(again, first, atol=1e-4)
    assert song.metadata["seeds"] == [11, 12] and song.metadata["model"].startswith("TINY RANDOM")


def test_full_model_length_and_progress_reports(tiny_pipeline):
    stages = []
    song = tiny_pipeline.generate(_request(audio_length=120), lambda stage, pct: stages.append((stage, pct)))
    assert song.audio[0].shape[0] == int(120 * 44100 / 2048) * 2048 and song.metadata["variant"] == "full"
    assert [s for s, _ in stages][:2] == ["lyrics", "style"] and stages[-1][0] == "post-processing"
    percents = [p for _, p in stages]
    assert percents == sorted(percents) and percents[-1] < 100


def test_edit_mode_keeps_the_reference_outside_the_segments(tiny_pipeline, monkeypatch):
    captured = {}
    decode = tiny_pipeline.vae.decode

    def spy(latent, chunked=True):
        captured["latent"] = latent.clone()
        return decode(latent, chunked)

    monkeypatch.setattr(tiny_pipeline.vae, "decode", spy)
    rng = np.random.default_rng(0)
    reference = (0.3 * rng.standard_normal((44100 * 30, 2))).astype(np.float32)
    song = tiny_pipeline.generate(_request(edit_audio=(reference, 44100), segments=[[-1, 5], [20, -1]]))
    cond = tiny_pipeline._reference_latent(reference, 44100, 2048)
    latent = captured["latent"][0]
    kept = slice(int(5 * 44100 / 2048), int(20 * 44100 / 2048))
    torch.testing.assert_close(latent[kept], cond[0, kept].float())
    assert not torch.allclose(latent[:100], cond[0, :100].float())
    assert len(song.audio) == 1


def test_reference_clip_shorter_than_ten_seconds_is_refused(tiny_pipeline):
    short = np.zeros((44100 * 4, 2), dtype=np.float32)
    with pytest.raises(ReferenceAudioError, match=r"4\.0 s long; at least 10 s"):
        tiny_pipeline.generate(_request(style_prompt=None, style_audio=(short, 44100)))


def test_reference_clip_style_is_embedded(tiny_pipeline):
    clip = (0.1 * np.random.default_rng(1).standard_normal((48000 * 12, 1))).astype(np.float32)
    embedding = tiny_pipeline.style.audio(clip, 48000)
    assert embedding.shape == (1, 512) and torch.isfinite(embedding).all()


def test_silent_output_fails_with_a_reason(tiny_pipeline, monkeypatch):
    monkeypatch.setattr(tiny_pipeline.vae, "decode", lambda latent, chunked=True: torch.zeros(1, 2, 2048 * 2048))
    with pytest.raises(AudioQualityError, match="silent"):
        tiny_pipeline.generate(_request())


def test_auto_master_reaches_the_target_loudness(tiny_pipeline):
    import pyloudnorm

    song = tiny_pipeline.generate(_request(auto_master=True))
    assert abs(pyloudnorm.Meter(44100).integrated_loudness(song.audio[0]) + 14) <= 0.5


def test_text_style_embeddings_are_cached_per_prompt(tiny_pipeline):
    assert tiny_pipeline.style.text("jazz") is tiny_pipeline.style.text("jazz")
    assert not torch.equal(tiny_pipeline.style.text("jazz"), tiny_pipeline.style.text("metal"))


def test_bundle_verification_catches_damage(tiny_bundle, tmp_path):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, copy)
    Bundle(copy).verify()
    with (copy / "vae" / "vae_model.pt").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(BundleError, match=r"vae/vae_model\.pt"):
        Bundle(copy).verify()
    assert Bundle(copy).is_tiny


def test_on_a_cpu_the_rows_are_the_cap_and_no_gpu_memory_is_reported(tiny_pipeline):
    assert tiny_pipeline.row_capacity(5) == 5
    assert tiny_pipeline.vae.half is None and tiny_pipeline.vae.chunk == 128
    assert "peak_gpu_gib" not in tiny_pipeline.generate(_request()).metadata


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_rows_follow_free_memory_decode_is_half_precision_and_peak_memory_is_reported(tiny_bundle):
    from inference_container.diffrhythm.pipeline import Pipeline

    pipeline = Pipeline.load(str(tiny_bundle), device="cuda", compile="off")
    assert pipeline.vae.half is not None and pipeline.vae.half[1] is torch.float16 and pipeline.vae.chunk is None
    assert 1 <= pipeline.row_capacity(64) <= 64
    song = pipeline.generate(_request(audio_length=120))
    assert 0 < song.metadata["peak_gpu_gib"] < torch.cuda.get_device_properties(0).total_memory / 2**30
    exact = Pipeline.load(str(tiny_bundle), device="cuda", compile="off", vae_dtype="fp32", vae_chunk=128)
    np.testing.assert_allclose(song.audio[0], exact.generate(_request(audio_length=120)).audio[0], atol=2e-2)


def test_fp8_on_a_device_without_float8_tensor_cores_loads_and_generates_in_the_models_dtype(tiny_bundle, caplog):
    from inference_container.diffrhythm.float8 import is_float8
    from inference_container.diffrhythm.pipeline import Pipeline

    with caplog.at_level("WARNING"):
        pipeline = Pipeline.load(str(tiny_bundle), device="cpu", dtype="fp32", fp8=True, lyric_check=False)
    assert "float8 tensor cores" in caplog.text
    assert not any(is_float8(dit) for dit in pipeline.dits.values())
    assert pipeline.generate(_request()).audio[0].any()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_fp8_converts_where_the_gpu_has_float8_tensor_cores(tiny_bundle):
    from inference_container.diffrhythm.float8 import float8_supported, is_float8
    from inference_container.diffrhythm.pipeline import Pipeline

    pipeline = Pipeline.load(str(tiny_bundle), device="cuda", compile="off", fp8=True)
    assert all(is_float8(dit) == float8_supported("cuda") for dit in pipeline.dits.values())
    assert np.isfinite(pipeline.generate(_request(audio_length=120)).audio[0]).all()
