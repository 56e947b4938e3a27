"""Fused projections and the compiled DiT compute what the model as loaded computes; bf16 stays near fp32.

Tolerances, as the largest difference over the largest value (tiny random DiT, weights ~N(0, 0.05)): fused vs unfused
in fp32 1e-5 (float rounding); compiled vs eager in fp32 1e-4 (inductor reorders sums and fuses the float32 norms);
bf16 vs fp32 3e-2 for one guided step and for a 4-step sampling (bf16 keeps 8 bits of mantissa); compiled vs eager in
half precision on a GPU 5e-2 (the full-size DiT measured 1.8e-2 in bf16 on an H200).
"""

from __future__ import annotations

import copy

import pytest
import torch

from inference_container.diffrhythm import device as device_module
from inference_container.diffrhythm.checkpoint import load_dit
from inference_container.diffrhythm.compiled import (
    CPU_WARM_UP_FRAMES,
    fuse_projections,
    is_compiled,
    load_cache,
    prepare_dit,
    row_bytes,
    save_cache,
    warm_up,
    warm_up_frames,
)
from inference_container.diffrhythm.config import DiTConfig
from inference_container.diffrhythm.device import resolve_precision, rows_that_fit, torch_dtype
from inference_container.diffrhythm.guidance import Inpainting, guided
from inference_container.diffrhythm.model import DiT
from inference_container.diffrhythm.sampling import sample

TINY = {"dim": 64, "depth": 3, "heads": 8, "ff_mult": 2, "text_dim": 512, "conv_layers": 1, "mel_dim": 64,
        "text_num_embeds": 363}


@pytest.fixture(autouse=True)
def _torch_threads():
    """``prepare_dit`` sets torch's CPU threads for the process: put them back after each test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _dit(max_frames: int = 2048, seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    model = DiT(DiTConfig(**TINY, max_frames=max_frames))
    with torch.no_grad():
        for parameter in model.parameters():  # upstream zero-initialises some layers: make every one count
            parameter.normal_(0, 0.05)
    return model.eval().requires_grad_(False)


def _inputs(rows: int, frames: int, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"noise": torch.randn(rows, frames, 64, generator=g),
            "text": torch.randint(1, 364, (rows, frames), generator=g),
            "cond": torch.randn(rows, frames, 64, generator=g), "style": torch.randn(rows, 512, generator=g),
            "negative_style": torch.randn(rows, 512, generator=g), "start_time": torch.zeros(rows)}


def _step(model: DiT, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """One guided velocity at t = 0.3 (both branches, as sampling runs it)."""
    dtype = model.dtype
    with torch.inference_mode():
        velocity = guided(model, text=inputs["text"], cond=inputs["cond"].to(dtype), style=inputs["style"].to(dtype),
                          negative_style=inputs["negative_style"].to(dtype), start_time=inputs["start_time"],
                          duration=None, cfg_strength=4.0)
        return velocity(inputs["noise"], torch.tensor(0.3, device=inputs["noise"].device)).float()


def _sample(model: DiT, inputs: dict[str, torch.Tensor], steps: int = 5) -> torch.Tensor:
    rows, frames, _ = inputs["noise"].shape
    dtype = model.dtype
    with torch.inference_mode():
        return sample(model, Inpainting.everything(rows, frames, 64, inputs["noise"].device), inputs["noise"],
                      text=inputs["text"],
                      style=inputs["style"].to(dtype), negative_style=inputs["negative_style"].to(dtype),
                      start_time=inputs["start_time"], duration=None, steps=steps, cfg_strength=4.0)


def _relative(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours - reference).abs().max() / reference.abs().max())


def test_fused_projections_compute_the_unfused_model_in_fp32():
    model = _dit()
    fused = fuse_projections(copy.deepcopy(model))
    attention, mlp = fused.transformer_blocks[0].self_attn, fused.transformer_blocks[0].mlp
    assert attention.qkv_proj is not None and mlp.gate_up_proj is not None
    assert not hasattr(attention, "q_proj") and not hasattr(mlp, "gate_proj")
    assert attention.qkv_proj.weight.shape == (3 * 64, 64) and mlp.gate_up_proj.weight.shape == (2 * 128, 64)
    assert sum(p.numel() for p in fused.parameters()) == sum(p.numel() for p in model.parameters())
    inputs = _inputs(2, 40)
    assert _relative(_step(fused, inputs), _step(model, inputs)) < 1e-5
    fuse_projections(fused)  # fusing twice changes nothing
    assert _relative(_step(fused, inputs), _step(model, inputs)) < 1e-5


def test_fused_projections_apply_after_a_strict_load_of_the_published_keys(tmp_path):
    model = _dit()
    path = tmp_path / "cfm_model.pt"
    torch.save({"model_state_dict": {f"transformer.{k}": v for k, v in model.state_dict().items()}}, path)
    loaded = fuse_projections(load_dit(path, model.config))  # strict: the published q/k/v and gate/up keys
    assert "transformer_blocks.0.self_attn.qkv_proj.weight" in loaded.state_dict()
    inputs = _inputs(1, 24)
    assert _relative(_step(loaded, inputs), _step(model, inputs)) < 1e-5


def test_prepare_on_a_cpu_keeps_the_model_as_loaded():
    """COMPILE=auto on a CPU: no compile, no fusing; the published parameter names stay."""
    model = _dit()
    prepared = prepare_dit(copy.deepcopy(model), "cpu")
    assert not is_compiled(prepared)
    assert prepared.state_dict().keys() == model.state_dict().keys()
    inputs = _inputs(1, 24)
    assert _relative(_step(prepared, inputs), _step(model, inputs)) == 0


def test_auto_compiles_a_full_size_dit_on_a_cpu_and_warms_it_on_a_short_song(monkeypatch):
    """``COMPILE=auto`` on a CPU compiles from ``CPU_COMPILE_MIN_PARAMETERS`` (lowered here to the tiny DiT's size);
    the warm-up after loading then runs a short song there, not the model's window."""
    model = _dit(max_frames=6144)
    size = sum(p.numel() for p in model.parameters())
    monkeypatch.setattr(device_module, "CPU_COMPILE_MIN_PARAMETERS", size)
    assert is_compiled(prepare_dit(copy.deepcopy(model), "cpu"))
    monkeypatch.setattr(device_module, "CPU_COMPILE_MIN_PARAMETERS", size + 1)
    assert not is_compiled(prepare_dit(copy.deepcopy(model), "cpu"))
    assert warm_up_frames(model) == CPU_WARM_UP_FRAMES < model.config.max_frames


def test_cuda_only_paths_fall_back_without_cuda(monkeypatch, tmp_path):
    """No GPU: auto picks the CPU, no compile, no cache to load; the model runs as loaded."""
    from inference_container.diffrhythm.device import resolve_device, resolve_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    device = resolve_device("auto")
    assert device == "cpu"
    assert resolve_precision(device, "fp32") == "fp32"
    model = prepare_dit(_dit(), device, cache=tmp_path / "missing.bin")
    assert not is_compiled(model)
    assert load_cache(None) is False and load_cache(tmp_path / "missing.bin") is False
    assert _step(model, _inputs(1, 16)).isfinite().all()


def test_bf16_stays_within_the_stated_tolerance_of_fp32():
    model = _dit()
    half = copy.deepcopy(model).to(torch.bfloat16)
    inputs = _inputs(1, 32)
    assert _relative(_step(half, inputs), _step(model, inputs)) < 3e-2
    assert _relative(_sample(half, inputs, steps=4), _sample(model, inputs, steps=4)) < 3e-2


@pytest.mark.slow  # inductor builds C++ kernels on the CPU: about a minute on two cores with a cold cache
def test_compiled_blocks_match_eager_for_every_shape_with_one_graph(tmp_path):
    torch._dynamo.reset()
    model = _dit()
    compiled = prepare_dit(copy.deepcopy(model), "cpu", compile="on")
    assert is_compiled(compiled) and not is_compiled(model)
    assert compiled.state_dict().keys() == model.state_dict().keys()  # compiled in place: same parameter names
    before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    for rows, frames in [(3, 64), (5, 40)]:  # 64 frames = the width: no size may be tied to another
        inputs = _inputs(rows, frames)
        assert _relative(_step(compiled, inputs), _step(model, inputs)) < 1e-4
    assert _relative(_sample(compiled, _inputs(3, 40)), _sample(model, _inputs(3, 40))) < 1e-4
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - before == 1  # dynamic: one graph for all
    cache = tmp_path / "compile-cache.bin"
    assert save_cache(cache) > 0 and cache.stat().st_size > 0
    torch._dynamo.reset()
    assert load_cache(cache) is True
    inputs = _inputs(3, 40)
    assert _relative(_step(compiled, inputs), _step(model, inputs)) < 1e-4


@pytest.mark.slow  # inductor builds C++ kernels on the CPU
def test_the_cpus_compiled_path_stays_within_its_precisions_tolerance_of_fp32():
    """What ``COMPILE=on`` runs on this CPU, in the precision ``DTYPE=auto`` picks here (bf16 where the CPU computes
    it natively, else fp32: either way the test runs): one guided step and a 4-step sampling near eager fp32."""
    torch._dynamo.reset()
    precision = resolve_precision("cpu")
    tolerance = {"bf16": 3e-2, "fp32": 1e-4}[precision]
    model = _dit()
    compiled = prepare_dit(copy.deepcopy(model).to(torch_dtype(precision)), "cpu", compile="on")
    assert is_compiled(compiled) and compiled.dtype == torch_dtype(precision)
    inputs = _inputs(2, 48)
    assert _relative(_step(compiled, inputs), _step(model, inputs)) < tolerance
    assert _relative(_sample(compiled, inputs, steps=4), _sample(model, inputs, steps=4)) < tolerance


@pytest.mark.gpu
@pytest.mark.slow  # inductor compiles in worker processes
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_compiled_on_cuda_matches_eager(precision):
    """On a GPU, ``COMPILE=auto`` compiles; the compiled half-precision step stays within 5e-2 of eager."""
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    model = _dit().to("cuda", dtype)
    compiled = prepare_dit(copy.deepcopy(model), "cuda", compile="auto")
    assert is_compiled(compiled)
    inputs = {k: v.to("cuda") for k, v in _inputs(3, 64).items()}
    assert _relative(_step(compiled, inputs), _step(model, inputs)) < 5e-2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_rows_gpu_memory_is_measured_and_bounds_the_rows_per_call():
    """What the worker's ``MAX_ROWS`` is capped by on a GPU: one row's measured peak, and the rows that fit."""
    model = _dit().to("cuda", torch.bfloat16)
    one = row_bytes(model)
    assert one > 0
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    warm_up(model, 4, model.config.max_frames)
    four = torch.cuda.max_memory_allocated() - before
    assert one < four <= 4.5 * one  # activations grow with the rows, about linearly
    free, total = torch.cuda.mem_get_info()
    assert rows_that_fit(free, one, cap=10**9, total_bytes=total) >= 4
    assert rows_that_fit(free, free, cap=8, total_bytes=total) == 1
