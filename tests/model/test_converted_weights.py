"""Converted weights (``convert-weights``): the same model as from the published ``.pt``, bit for bit, and a converted
file that does not come from the bundle's ``.pt`` is never loaded in its place."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from inference_container.cli import main as cli
from inference_container.diffrhythm.bundle.convert import convert_weights
from inference_container.diffrhythm.bundle.fetch import write_manifest
from inference_container.diffrhythm.bundle.layout import CONVERTED, converted_file, dit_file
from inference_container.diffrhythm.bundle.reader import Bundle, BundleError, safetensors_metadata
from inference_container.diffrhythm.checkpoint import CheckpointError, convert_checkpoint, load_variant
from inference_container.diffrhythm.config import DiTConfig
from inference_container.diffrhythm.model import DiT
from shared.timeline import VARIANTS
from testing.tiny import TINY_DIT, TINY_LABEL, save_tiny_dit


def _dit_bundle(root: Path, seed: int = 0) -> Bundle:
    """The DiT part of the tiny bundle (``make_test_weights`` writes the same files, plus VAE, style and G2P)."""
    bundle = Bundle(root)
    bundle.dit_config.parent.mkdir(parents=True, exist_ok=True)
    bundle.dit_config.write_text(json.dumps({"model_type": "diffrhythm", "model": TINY_DIT}))
    for variant in VARIANTS:
        save_tiny_dit(root / dit_file(variant), VARIANTS[variant].max_frames, seed)
    return write_manifest(root, TINY_LABEL, tuple(VARIANTS), {"": "test"})


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return _dit_bundle(tmp_path / "bundle")


def _velocity(model: DiT, variant: str) -> torch.Tensor:
    """One forward at 24 frames (the full model also embeds the duration)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 24, 64, generator=generator)
    text = torch.randint(0, 364, (2, 24), generator=generator)
    style, start = torch.randn(2, 512, generator=generator), torch.zeros(2)
    duration = torch.full((2,), 0.5) if VARIANTS[variant].has_duration else None
    dtype = next(model.parameters()).dtype
    with torch.inference_mode():
        return model(x.to(dtype), torch.zeros_like(x).to(dtype), style.to(dtype), torch.tensor(0.4),
                     model.prepare(text, start, duration))


def _same_model(a: DiT, b: DiT) -> bool:
    """The same parameters and buffers: keys, dtypes and values, bitwise."""
    left, right = dict(a.named_parameters()) | dict(a.named_buffers()), dict(b.named_parameters()) | dict(
        b.named_buffers())
    return left.keys() == right.keys() and all(
        left[k].dtype == right[k].dtype and torch.equal(left[k], right[k]) for k in left)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_fp32_from_the_converted_file_equals_the_pt_exactly(bundle, variant):
    written = convert_weights(bundle.root, ("fp32",))
    assert set(written) == {converted_file(v, "fp32") for v in VARIANTS}
    converted, path = load_variant(bundle, variant, "fp32")
    published, published_path = load_variant(bundle, variant, "fp32", converted=False)
    assert path == bundle.root / converted_file(variant, "fp32") and published_path == bundle.dit(variant)
    assert _same_model(converted, published)
    assert torch.equal(_velocity(converted, variant), _velocity(published, variant))  # bitwise, not just close


def test_bf16_file_holds_half_the_bytes_and_loads_as_the_pt_cast_to_bf16(bundle):
    convert_weights(bundle.root, ("bf16", "fp32"))
    converted, path = load_variant(bundle, "95s", "bf16")
    assert path.name == "cfm_model.bf16.safetensors"
    assert {p.dtype for p in converted.parameters()} == {torch.bfloat16}
    assert _same_model(converted, load_variant(bundle, "95s", "bf16", converted=False)[0])
    sizes = {p: (bundle.root / converted_file("95s", p)).stat().st_size for p in ("bf16", "fp32")}
    assert sizes["bf16"] < 0.51 * sizes["fp32"]
    metadata, declared = safetensors_metadata(path)
    assert declared == sizes["bf16"]
    assert metadata == {"format": "pt", "content": "diffrhythm-dit", "precision": "bf16", "source": dit_file("95s"),
                        "source_sha256": bundle.manifest["files"][dit_file("95s")]["sha256"]}
    # the published keys, so the same strict load reads both formats
    assert load_file(str(path)).keys() == torch.load(bundle.dit("95s"), weights_only=True)["model_state_dict"].keys()


def test_a_precision_is_taken_only_from_its_own_file_or_an_fp32_one(bundle):
    convert_weights(bundle.root, ("bf16",))
    assert bundle.dit_choice("95s", "bf16").converted
    for precision in ("fp16", "fp32"):  # bf16 cannot give the .pt's fp16 or fp32 tensors
        choice = bundle.dit_choice("95s", precision)
        assert choice.path == bundle.dit("95s") and not choice.converted and not choice.refused
    convert_weights(bundle.root, ("fp32",))  # added beside the bf16 files, which stay listed
    assert set(bundle.converted) == {converted_file(v, p) for v in VARIANTS for p in ("bf16", "fp32")}
    choice = bundle.dit_choice("95s", "fp16")
    assert choice.path.name == "cfm_model.fp32.safetensors"
    fp16, _ = load_variant(bundle, "95s", "fp16")
    assert _same_model(fp16, load_variant(bundle, "95s", "fp16", converted=False)[0])


def test_a_file_converted_from_another_checkpoint_is_ignored_with_a_clear_message(bundle, caplog):
    convert_weights(bundle.root, ("fp32",))
    save_tiny_dit(bundle.dit("95s"), VARIANTS["95s"].max_frames, seed=5)  # the published file changes (re-fetched)
    write_manifest(bundle.root, TINY_LABEL, tuple(VARIANTS), {"": "test"})
    choice = bundle.dit_choice("95s", "fp32")
    assert not choice.converted and choice.path == bundle.dit("95s")
    (reason,) = choice.refused
    assert "cfm_model.fp32.safetensors: converted from another dit/95s/cfm_model.pt" in reason
    assert "convert-weights" in reason
    with caplog.at_level(logging.WARNING):
        model, path = load_variant(bundle, "95s", "fp32")
    assert path == bundle.dit("95s") and "converted from another" in caplog.text and "instead" in caplog.text
    assert _same_model(model, load_variant(bundle, "95s", "fp32", converted=False)[0])  # the new weights
    assert not _same_model(model, load_variant(_dit_bundle(bundle.root.parent / "old"), "95s", "fp32")[0])
    assert bundle.dit_choice("full", "fp32").converted  # the other variant's file still matches its source


def test_a_converted_file_is_refused_if_its_own_metadata_names_another_source(bundle):
    convert_weights(bundle.root, ("fp32",))
    path = bundle.root / converted_file("95s", "fp32")
    tensors = load_file(str(path))
    metadata, _ = safetensors_metadata(path)
    save_file(tensors, str(path), metadata={**metadata, "source_sha256": "0" * 64})  # same size: only the hash lies
    index = json.loads((bundle.root / CONVERTED).read_text())
    index["files"][converted_file("95s", "fp32")]["bytes"] = path.stat().st_size
    (bundle.root / CONVERTED).write_text(json.dumps(index))
    (reason,) = bundle.dit_choice("95s", "fp32").refused
    assert "converted from another" in reason and "0" * 64 in reason


def test_a_truncated_or_missing_converted_file_is_refused(bundle):
    convert_weights(bundle.root, ("fp32",))
    path = bundle.root / converted_file("95s", "fp32")
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size - 4)
    (reason,) = bundle.dit_choice("95s", "fp32").refused
    assert "bytes, converted.json records" in reason
    path.unlink()
    (reason,) = bundle.dit_choice("95s", "fp32").refused
    assert "missing" in reason
    assert load_variant(bundle, "95s", "fp32")[1] == bundle.dit("95s")


def test_conversion_refuses_a_damaged_bundle_and_a_checkpoint_that_would_not_load(bundle, tmp_path):
    with bundle.dit("95s").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(BundleError, match="sha256 differs from the manifest"):
        convert_weights(bundle.root, ("bf16",), ("95s",))
    assert not (bundle.root / CONVERTED).exists() and not (bundle.root / converted_file("95s", "bf16")).exists()
    state = torch.load(bundle.dit("full"), weights_only=True)["model_state_dict"]
    del state["transformer.proj_out.bias"]
    torch.save({"model_state_dict": state}, tmp_path / "broken.pt")
    config = DiTConfig(**TINY_DIT, max_frames=VARIANTS["full"].max_frames)
    with pytest.raises(CheckpointError, match="does not match the configuration"):
        convert_checkpoint(tmp_path / "broken.pt", {"bf16": tmp_path / "broken.safetensors"}, config, {})
    assert not (tmp_path / "broken.safetensors").exists()


def test_convert_weights_command(bundle, capsys):
    assert cli(["convert-weights", str(bundle.root), "--dtype", "bf16", "fp32", "--variants", "full"]) == 0
    out = capsys.readouterr().out
    assert "dit/full/cfm_model.bf16.safetensors" in out and "fp32 from dit/full/cfm_model.pt" in out
    assert set(bundle.converted) == {converted_file("full", "bf16"), converted_file("full", "fp32")}
    with bundle.dit("95s").open("ab") as handle:
        handle.write(b"x")
    assert cli(["convert-weights", str(bundle.root)]) == 1
    assert "sha256 differs from the manifest" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_converted_bf16_loads_straight_onto_the_gpu_as_the_pt_does(bundle):
    convert_weights(bundle.root, ("bf16",))
    model, path = load_variant(bundle, "full", "bf16", "cuda")
    assert path.suffix == ".safetensors"
    assert {t.device.type for t in [*model.parameters(), *model.buffers()]} == {"cuda"}
    assert _same_model(model, load_variant(bundle, "full", "bf16", "cuda", converted=False)[0])


@pytest.mark.slow  # the whole tiny bundle (MuQ-MuLan's code) and two songs
def test_pipeline_loads_the_converted_files_and_generates_the_same_song(tiny_bundle, tiny_pipeline, tmp_path):
    from inference_container.diffrhythm.pipeline import Pipeline
    from tests.support.songs import request_for

    copy = Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))
    convert_weights(copy, ("fp32",))
    pipeline = Pipeline.load(str(copy), device="cpu", dtype="fp32")
    assert pipeline.dit_files == {v: copy / converted_file(v, "fp32") for v in VARIANTS}
    assert tiny_pipeline.dit_files == {v: tiny_bundle / dit_file(v) for v in VARIANTS}
    request = request_for("[00:01.00]hello world\n[00:05.00]again", style_prompt="pop", steps=3, seed=3)
    ours, published = pipeline.generate(request).audio[0], tiny_pipeline.generate(request).audio[0]
    assert np.array_equal(ours, published)
