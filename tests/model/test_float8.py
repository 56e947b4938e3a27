"""The float8 DiT (``float8.py``): per-tensor scaled float8 products through ``torch._scaled_mm``, which computes them
on a CPU too, so the numbers are checked on any machine; the speed only on a GPU with float8 tensor cores.

Tolerances, relative L2: one float8 product against float32 5e-2 (e4m3 keeps 3 bits of mantissa: 3.7e-2 measured on
Gaussian data); one guided step of the tiny random DiT in bf16 with float8 blocks against bf16 ``FLOAT8_TOLERANCE``
(5e-2; 7e-3 measured: the float32 residual stream keeps the blocks' rounding from piling up); a 5-step sampling
likewise.
"""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from torch import nn

from inference_container.diffrhythm.compiled import is_compiled, prepare_dit
from inference_container.diffrhythm.float8 import (
    FLOAT8,
    FLOAT8_TOLERANCE,
    Float8Linear,
    checked_float8,
    float8_error,
    float8_where_supported,
    is_float8,
    to_float8,
)
from inference_container.diffrhythm.vae import relative_error
from tests.model.test_compiled import _dit, _inputs, _sample, _step

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_float8_product_is_within_its_precision_of_float32_and_stores_a_byte_per_weight(dtype):
    torch.manual_seed(0)
    linear = nn.Linear(256, 96, bias=False)
    x = torch.randn(2, 40, 256)
    product = Float8Linear.from_linear(linear.to(dtype), dtype)
    out = product(x.to(dtype))
    assert out.shape == (2, 40, 96) and out.dtype == dtype
    assert relative_error(out, linear.float()(x).detach()) < 5e-2
    assert product.weight.dtype == FLOAT8 and product.weight.element_size() == 1
    assert torch.equal(product(torch.zeros(3, 256, dtype=dtype)), torch.zeros(3, 96, dtype=dtype))  # no 0/0


def test_a_projection_with_a_bias_is_refused():
    with pytest.raises(ValueError, match="no bias"):
        Float8Linear.from_linear(nn.Linear(32, 32), torch.float32)


def test_every_block_projection_and_nothing_else_turns_float8_with_a_float32_residual_stream():
    model = to_float8(_dit().to(torch.bfloat16))
    assert is_float8(model) and model.residual_dtype == torch.float32
    for block in model.transformer_blocks:
        converted = {name.rsplit(".", 1)[-1] for name, m in block.named_modules() if isinstance(m, Float8Linear)}
        assert converted == set(PROJECTIONS)
        assert not any(isinstance(m, nn.Linear) for m in block.modules())
    assert type(model.proj_out) is nn.Linear and model.proj_out.weight.dtype == torch.bfloat16
    assert not is_float8(_dit())


def test_a_float8_dits_guided_step_and_sampling_stay_within_tolerance_of_bf16():
    model = _dit().to(torch.bfloat16)
    converted = to_float8(copy.deepcopy(model))
    inputs = _inputs(2, 48)
    step = _step(converted, inputs)
    assert step.isfinite().all()
    assert relative_error(step, _step(model, inputs)) < FLOAT8_TOLERANCE
    assert relative_error(_sample(converted, inputs), _sample(model, inputs)) < FLOAT8_TOLERANCE
    assert 0 < float8_error(model, converted) < FLOAT8_TOLERANCE


def test_the_load_check_keeps_the_float8_copy_only_within_tolerance(caplog):
    model = _dit().to(torch.bfloat16)
    kept = checked_float8(model)
    assert kept is not model and is_float8(kept) and not is_float8(model)
    with caplog.at_level(logging.WARNING):
        assert checked_float8(model, tolerance=1e-6) is model
    assert "float8 step differs" in caplog.text


def test_a_device_without_float8_tensor_cores_keeps_the_model(caplog):
    model = _dit().to(torch.bfloat16)
    with caplog.at_level(logging.WARNING):
        assert float8_where_supported(model, "cpu") is model
    assert not is_float8(model) and "float8 tensor cores" in caplog.text


@pytest.mark.slow
def test_the_compiled_float8_dit_computes_the_eager_one():
    model = to_float8(_dit().to(torch.bfloat16))
    inputs = _inputs(2, 48)
    compiled = prepare_dit(copy.deepcopy(model), "cpu", compile="on")
    assert is_compiled(compiled) and is_float8(compiled)
    assert relative_error(_step(compiled, inputs), _step(model, inputs)) < 1e-2
    assert _step(compiled, _inputs(1, 80)).shape == (1, 80, 64)  # another length: the same dynamic graph


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_float8_gpu_the_checked_copy_is_float8_and_close_to_bf16():
    from inference_container.diffrhythm.float8 import float8_supported

    model = _dit().to("cuda", torch.bfloat16)
    converted = float8_where_supported(model, "cuda")
    assert is_float8(converted) == float8_supported("cuda")
    inputs = {k: v.to("cuda") for k, v in _inputs(2, 64).items()}
    assert relative_error(_step(converted, inputs), _step(model, inputs)) < FLOAT8_TOLERANCE
