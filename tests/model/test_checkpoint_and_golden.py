"""The DiT reproduces the golden vectors and loads checkpoints strictly, in every supported format and precision."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from inference_container.diffrhythm.checkpoint import CheckpointError, load_dit
from inference_container.diffrhythm.config import DiTConfig
from inference_container.diffrhythm.guidance import guided
from inference_container.diffrhythm.model import DiT
from shared.timeline import FULL, SHORT
from testing.golden import verify_folder

TINY = {"dim": 64, "depth": 4, "heads": 8, "ff_mult": 2, "text_dim": 512, "conv_layers": 1, "mel_dim": 64,
        "text_num_embeds": 363}


def _random_dit(max_frames: int, seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    model = DiT(DiTConfig(**TINY, max_frames=max_frames))
    with torch.no_grad():
        for parameter in model.parameters():  # upstream zero-initialises some layers: make every one count
            parameter.normal_(0, 0.05)
    return model.eval()


def _state(model: DiT) -> dict[str, torch.Tensor]:
    return {f"transformer.{k}": v for k, v in model.state_dict().items()}


def test_golden_95s_fp32_within_the_readme_tolerance(golden_95s):
    report = verify_folder(golden_95s, "fp32")
    assert report.passed, report.errors
    assert report.errors["v_cond"] < 1e-4 and report.errors["sample_out"] < 1e-3


@pytest.mark.slow  # half precision on a CPU is slow
@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_golden_95s_in_half_precision_within_the_stated_tolerance(golden_95s, dtype):
    report = verify_folder(golden_95s, dtype)
    assert report.passed, (report.errors, report.tolerances)


@pytest.mark.slow
def test_verify_checkpoint_command_passes_and_fails_on_tampered_vectors(golden_95s, tmp_path):
    command = [sys.executable, "-m", "infrastructure.cli", "verify-checkpoint"]
    ok = subprocess.run([*command, str(golden_95s)], capture_output=True, text=True)
    assert ok.returncode == 0 and "PASS" in ok.stdout and "sample_out" in ok.stdout
    tampered = tmp_path / "tampered"
    shutil.copytree(golden_95s, tampered)
    vectors = load_file(str(tampered / "vectors.safetensors"))
    vectors["v_cond"] = vectors["v_cond"] + 1e-2
    save_file(vectors, str(tampered / "vectors.safetensors"))
    bad = subprocess.run([*command, str(tampered)], capture_output=True, text=True)
    assert bad.returncode == 1 and "FAIL" in bad.stdout


@pytest.mark.parametrize("variant", [SHORT, FULL], ids=lambda v: v.name)
def test_strict_load_from_pt_and_safetensors_gives_the_same_model(tmp_path, variant):
    model = _random_dit(variant.max_frames)
    torch.save({"model_state_dict": _state(model)}, tmp_path / "cfm_model.pt")
    save_file(_state(model), str(tmp_path / "cfm_model.safetensors"))
    config = model.config
    x, text = torch.randn(1, 40, 64), torch.randint(0, 364, (1, 40))
    style, start = torch.randn(1, 512), torch.zeros(1)
    duration = torch.tensor([40 / variant.max_frames]) if config.has_duration else None
    expected = model(x, torch.zeros_like(x), style, torch.tensor(0.5), model.prepare(text, start, duration))
    for name in ("cfm_model.pt", "cfm_model.safetensors"):
        loaded = load_dit(tmp_path / name, config)
        weights = loaded.state_dict()
        assert weights.keys() == model.state_dict().keys()
        assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())  # the same weights, bitwise
        got = loaded(x, torch.zeros_like(x), style, torch.tensor(0.5), loaded.prepare(text, start, duration))
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)  # another tensor: summed in another order
    assert ("duration_time_embed.time_mlp.0.weight" in model.state_dict()) == variant.has_duration


def test_strict_load_rejects_missing_extra_and_misshapen_keys(tmp_path):
    model = _random_dit(2048)
    state = _state(model)
    cases = {
        "missing": {k: v for k, v in state.items() if "proj_out.bias" not in k},
        "extra": {**state, "transformer.unexpected.weight": torch.zeros(1)},
        "outside": {**state, "mel_spec.dummy": torch.zeros(1)},
        "shape": {**state, "transformer.proj_out.bias": torch.zeros(3)},
    }
    for name, broken in cases.items():
        torch.save({"model_state_dict": broken}, tmp_path / f"{name}.pt")
        with pytest.raises(CheckpointError):
            load_dit(tmp_path / f"{name}.pt", model.config)
    with pytest.raises(CheckpointError):  # the 95 s checkpoint is not the full model
        load_dit(_saved(tmp_path, model), DiTConfig(**TINY, max_frames=6144))


def _saved(tmp_path, model: DiT):
    path = tmp_path / "ok.pt"
    torch.save({"model_state_dict": _state(model)}, path)
    return path


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_load_in_half_precision(tmp_path, dtype):
    name = {torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    loaded = load_dit(_saved(tmp_path, _random_dit(2048)), _random_dit(2048).config, dtype=name)
    assert {p.dtype for p in loaded.parameters()} == {dtype}


def test_full_model_needs_the_duration():
    model = _random_dit(6144)
    with pytest.raises(ValueError, match="duration"):
        model.prepare(torch.zeros(1, 8, dtype=torch.long), torch.zeros(1))


def test_guidance_runs_both_branches_as_one_batch_and_matches_separate_calls():
    model = _random_dit(2048)
    x, text = torch.randn(2, 30, 64), torch.randint(1, 364, (2, 30))
    cond, style, negative = torch.randn(2, 30, 64), torch.randn(2, 512), torch.randn(2, 512)
    start = torch.zeros(2)
    calls = []
    model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    velocity = guided(model, text=text, cond=cond, style=style, negative_style=negative, start_time=start,
                      duration=None, cfg_strength=4.0)
    v = velocity(x, torch.tensor(0.3))
    assert calls == [4]  # one forward, batch = 2 x (cond + uncond)
    v_c = model(x, cond, style, torch.tensor(0.3), model.prepare(text, start))
    v_u = model(x, torch.zeros_like(cond), negative, torch.tensor(0.3), model.prepare(torch.zeros_like(text), start))
    torch.testing.assert_close(v, v_c + (v_c - v_u) * 4.0, rtol=1e-4, atol=1e-5)


def test_the_input_embedding_keeps_the_contiguous_layout_the_projections_need():
    """The conv position signal comes out frame-strided (a transposed convolution); the sum must not take that layout,
    or every projection after it runs as a batched product over a copied weight."""
    embed = _random_dit(2048).input_embed
    n = 40
    h = embed(torch.randn(2, n, 64), torch.randn(2, n, 64), torch.randn(2, n, 512), torch.randn(2, 512),
              torch.randn(2, 512))
    assert not embed.conv_pos_embed(torch.randn(2, n, h.shape[-1])).is_contiguous() and h.is_contiguous()


def test_a_half_precision_dits_guidance_mix_runs_in_float32():
    """The branches come out in bf16; their mix (the strength multiplies their difference's rounding) is float32."""
    model = _random_dit(2048).to(torch.bfloat16)
    x, text, start = torch.randn(1, 24, 64), torch.randint(1, 364, (1, 24)), torch.zeros(1)
    cond, style, negative = torch.randn(1, 24, 64), torch.randn(1, 512), torch.randn(1, 512)
    branches: list[torch.Tensor] = []
    model.register_forward_hook(lambda module, inputs, output: branches.append(output))
    velocity = guided(model, text=text, cond=cond.bfloat16(), style=style.bfloat16(),
                      negative_style=negative.bfloat16(), start_time=start, duration=None, cfg_strength=4.0)
    v = velocity(x, torch.tensor(0.3))
    (both,) = branches
    assert both.dtype == torch.bfloat16 and v.dtype == torch.float32
    v_c, v_u = both.float().chunk(2)
    assert torch.equal(v, v_c + (v_c - v_u) * 4.0)  # the same float32 operations on the same values


def test_config_rejects_a_text_width_the_fusion_layers_cannot_take(tmp_path):
    with pytest.raises(ValueError, match="text_dim"):
        DiTConfig(**{**TINY, "text_dim": 256})
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "diffrhythm", "model": TINY}))
    assert DiTConfig.from_json(path, max_frames=6144).has_duration


def _reference_sample(model: DiT, v: dict[str, torch.Tensor], keep: torch.Tensor, steps: int, cfg: float
                      ) -> torch.Tensor:
    """The golden README's definition, written out the plain way upstream runs it: per step, separate conditional
    and unconditional calls, the text conditioning recomputed every call, kept frames zeroed in the DiT's cond and
    copied back from ``cond`` at the end. Shares no code with ``guided``, ``euler`` or ``Inpainting``."""
    cond = v["cond"][:, : v["x"].shape[1]]
    step_cond = cond * keep
    x = v["sample_y0"].clone()
    grid = torch.linspace(0, 1, steps)
    for i in range(steps - 1):
        t = grid[i]
        v_c = model(x, step_cond, v["style"], t, model.prepare(v["text"], v["start_time"], v["duration"]))
        v_u = model(x, torch.zeros_like(step_cond), v["negative_style"], t,
                    model.prepare(torch.zeros_like(v["text"]), v["start_time"], v["duration"]))
        x = x + (grid[i + 1] - t) * (v_c + (v_c - v_u) * cfg)
    return x * (1 - keep) + cond * keep


def test_verify_checkpoint_reads_a_full_model_folder_with_partial_edit_segments(tmp_path):
    """Any folder of the golden format works: here the full variant (duration embedding) and a partial edit. The
    expected vectors come from plain DiT calls and a plain sampling loop (not this project's guidance, sampler or
    inpainting); ``v_cond`` sees ``cond`` as stored, and the kept frames of ``sample_out`` are ``cond`` exactly."""
    model = _random_dit(6144, seed=3)
    n, segments, steps, cfg = 48, [[5, 20], [30, 6144]], 6, 3.0
    torch.manual_seed(1)
    v = {"x": torch.randn(1, n, 64), "cond": torch.randn(1, 6144, 64), "text": torch.randint(0, 364, (1, n)),
         "style": torch.randn(1, 512), "negative_style": torch.randn(1, 512), "start_time": torch.zeros(1),
         "duration": torch.tensor([n / 6144]), "t": torch.tensor([0.25]), "sample_y0": torch.randn(1, n, 64)}
    keep = torch.ones(1, n, 1)
    for first, last in segments:
        keep[:, first:last] = 0
    with torch.no_grad():
        cond = v["cond"][:, :n]
        v["v_cond"] = model(v["x"], cond, v["style"], v["t"], model.prepare(v["text"], v["start_time"], v["duration"]))
        blank = model.prepare(torch.zeros_like(v["text"]), v["start_time"], v["duration"])
        v["v_uncond"] = model(v["x"], torch.zeros_like(cond), v["negative_style"], v["t"], blank)
        v["sample_out"] = _reference_sample(model, v, keep, steps, cfg)
    torch.save({"model_state_dict": _state(model)}, tmp_path / "cfm_model.pt")
    save_file({k: t.contiguous() for k, t in v.items()}, str(tmp_path / "vectors.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "diffrhythm", "model": TINY}))
    (tmp_path / "meta.json").write_text(json.dumps({"max_frames": 6144, "n_frames": n, "velocity_time": 0.25,
                                                    "steps": steps, "cfg_strength": cfg,
                                                    "edit_segments_frames": segments}))
    report = verify_folder(tmp_path)
    assert report.passed, report.errors
    assert report.errors["sample_out"] < 1e-4  # batched guidance and once-per-song conditioning change nothing
    v["sample_out"][:, 20:30] += 1e-2  # a kept frame that is not the reference latent must be caught
    save_file({k: t.contiguous() for k, t in v.items()}, str(tmp_path / "vectors.safetensors"))
    report = verify_folder(tmp_path)
    assert not report.passed and report.errors["sample_out"] > 5e-3 and report.errors["v_cond"] < 1e-4
