"""Stems: the separator loads the published htdemucs layout strictly, splits a song into vocals and accompaniment
that add up to it, and a bundle without one says stems are unavailable."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from inference_container.diffrhythm.bundle.fetch import fetch_file, write_manifest
from inference_container.diffrhythm.bundle.layout import STEMS_FILE
from inference_container.diffrhythm.bundle.reader import Bundle, BundleError
from inference_container.diffrhythm.bundle.sources import HTDEMUCS, RemoteFile
from inference_container.diffrhythm.stems import Separator, SeparatorError, StemsUnavailable, read_checkpoint
from inference_container.errors import InputError
from testing.tiny import TINY_LABEL, save_tiny_separator

RATE = 44100


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_separator(tmp_path_factory.mktemp("stems") / "htdemucs.th")


@pytest.fixture(scope="module")
def separator(checkpoint: Path) -> Separator:
    return Separator.load(checkpoint)


def song(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def test_the_tiny_bundle_has_a_separator_in_its_manifest_that_loads(tiny_bundle):
    bundle = Bundle(tiny_bundle)
    assert bundle.stems == tiny_bundle / STEMS_FILE and STEMS_FILE in bundle.manifest["files"]
    bundle.verify()
    separator = Separator.from_bundle(bundle)
    assert (separator.samplerate, separator.sources[-1]) == (RATE, "vocals")
    package = read_checkpoint(bundle.stems)
    assert package["training_args"]["note"] == TINY_LABEL
    assert {tensor.dtype for tensor in package["state"].values()} == {torch.float16}  # as published


def test_separate_returns_vocals_and_accompaniment_that_add_up_to_the_mix(separator):
    mix = song((5 * RATE // 2, 2))  # several of the tiny model's 1 s segments, overlapping
    vocals, accompaniment = separator.separate(mix, RATE)
    assert vocals.shape == accompaniment.shape == mix.shape
    assert vocals.dtype == accompaniment.dtype == np.float32
    np.testing.assert_allclose(vocals + accompaniment, mix, rtol=0, atol=1e-6)
    assert np.abs(vocals).mean() > 0 and not np.allclose(vocals, mix)  # it separates something, not all or none
    again, _ = separator.separate(mix, RATE)
    assert np.array_equal(vocals, again)  # no random shifts: the same song, the same stems


@pytest.mark.parametrize(("shape", "rate"), [
    ((RATE // 2 + 1,), RATE),    # mono, odd length
    ((RATE // 4 + 3, 1), RATE),  # mono as one column
    ((7, 2), RATE),              # far shorter than a segment
    ((24000 + 5, 2), 48000),     # another rate: resampled for the model and back
    ((8000, 1), 16000),
])
def test_mono_short_odd_and_other_rate_inputs_keep_their_shape_and_sum(separator, shape, rate):
    mix = song(shape, seed=len(shape) + shape[0])
    vocals, accompaniment = separator.separate(mix, rate)
    assert vocals.shape == accompaniment.shape == mix.shape
    np.testing.assert_allclose(vocals + accompaniment, mix, rtol=0, atol=1e-6)
    assert np.isfinite(vocals).all()


@pytest.mark.parametrize(("audio", "rate", "message"), [
    (np.zeros((0, 2), np.float32), RATE, "nothing to separate"),
    (np.zeros((100, 3), np.float32), RATE, "shape"),
    (np.zeros((2, 100, 2), np.float32), RATE, "shape"),
    (np.full((100, 2), np.nan, np.float32), RATE, "not finite"),
    (np.zeros((100, 2), np.float32), 0, "nothing to separate"),
])
def test_audio_it_cannot_separate_is_refused_clearly(separator, audio, rate, message):
    with pytest.raises(ValueError, match=message):
        separator.separate(audio, rate)


class Masks(nn.Module):
    """Stands in for htdemucs: source k is ``gains[k]`` times the (normalised) mix."""

    def __init__(self) -> None:
        super().__init__()
        self.samplerate, self.segment, self.sources = RATE, 0.5, ["drums", "vocals", "other"]
        self.gains = torch.tensor([0.1, 0.5, 0.4])

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        return self.gains[None, :, None, None] * mix[:, None]


def test_vocals_are_the_vocals_source_scaled_back_over_overlapping_segments():
    mix = song((int(1.7 * RATE), 2)) + 0.05  # several 0.5 s segments, and a DC offset
    vocals, accompaniment = Separator(Masks(), torch.device("cpu")).separate(mix, RATE)
    centred = mix - mix.mean()  # normalised by the mono mix's mean and spread, scaled back without the mean
    np.testing.assert_allclose(vocals, 0.5 * centred, atol=1e-5)
    np.testing.assert_allclose(accompaniment, mix - 0.5 * centred, atol=1e-5)


def _damaged(checkpoint: Path, tmp_path: Path, change) -> Path:
    package = read_checkpoint(checkpoint)
    change(package)
    path = tmp_path / "damaged.th"
    torch.save(package, path)
    return path


class Foreign:
    """A class a checkpoint could smuggle in: never unpickled."""


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p["state"].pop(next(iter(p["state"]))), "1 missing"),
    (lambda p: p["state"].update(extra=torch.zeros(1)), "1 unexpected"),
    (lambda p: p["state"].update({k: torch.zeros(3) for k in list(p["state"])[:1]}), "shapes differ"),
    (lambda p: p["kwargs"].update(channels=8), "state does not match"),
    (lambda p: p["kwargs"].update(not_a_parameter=1), "does not take"),
    (lambda p: p["kwargs"].update(sources=["drums", "bass", "other"]), "no 'vocals'"),
    (lambda p: p["kwargs"].update(audio_channels=1), "not stereo"),
    (lambda p: p.pop("state"), "expected a dict with klass, args, kwargs, state"),
    (lambda p: p.update(optimizer={}), "unexpected entries"),
    (lambda p: p.update(klass=Foreign), "Foreign"),
])
def test_a_damaged_or_mismatched_checkpoint_fails_to_load_with_a_clear_error(checkpoint, tmp_path, change, message):
    with pytest.raises(SeparatorError, match=message):
        Separator.load(_damaged(checkpoint, tmp_path, change))


def test_numpy_scalars_among_the_published_training_metrics_load(checkpoint, tmp_path):
    metrics = ({"nsdr": np.float64(7.5)}, {"sdr": np.float32(8.0)})
    path = _damaged(checkpoint, tmp_path, lambda p: p.update(metrics=metrics))
    assert Separator.load(path).sources == ["drums", "bass", "other", "vocals"]


def test_a_truncated_file_or_another_models_checkpoint_is_not_a_separator(checkpoint, tmp_path):
    truncated = tmp_path / "truncated.th"
    truncated.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(SeparatorError, match="not a Demucs checkpoint"):
        Separator.load(truncated)
    dit = tmp_path / "cfm_model.pt"
    torch.save({"model_state_dict": {"transformer.x": torch.zeros(1)}}, dit)
    with pytest.raises(SeparatorError, match="expected a dict with klass"):
        Separator.load(dit)


def test_a_bundle_without_a_separator_reports_stems_unavailable(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae/vae_model.pt").write_bytes(b"x")
    bundle = write_manifest(tmp_path, TINY_LABEL, ("95s",), {"": "test"})
    assert bundle.stems is None
    with pytest.raises(StemsUnavailable, match="stems are not available") as raised:
        Separator.from_bundle(bundle)
    assert isinstance(raised.value, InputError)  # the job fails at once with that message, not retried


def test_fetch_file_keeps_only_a_file_with_the_pinned_sha256(checkpoint, tmp_path):
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    target = fetch_file(RemoteFile(checkpoint.as_uri(), digest), tmp_path / STEMS_FILE)
    assert target.read_bytes() == checkpoint.read_bytes()
    other = tmp_path / "other" / STEMS_FILE
    with pytest.raises(BundleError, match="sha256"):
        fetch_file(RemoteFile(checkpoint.as_uri(), "0" * 64), other)
    assert not other.exists() and not other.with_name(other.name + ".partial").exists()
    assert HTDEMUCS.url.endswith(f"-{HTDEMUCS.sha256[:8]}.th")  # demucs names its files by their sha256's start
