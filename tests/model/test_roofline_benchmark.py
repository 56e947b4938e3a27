"""``benchmarks.roofline``: a guided step's FLOPs from the DiT's shape, and the rates and bound it prints and writes."""

from __future__ import annotations

import json

from benchmarks.roofline import main, step_flops
from inference_container.diffrhythm.config import DiTConfig


def test_a_guided_steps_flops_follow_the_dits_shape():
    flops = step_flops(DiTConfig(dim=64, depth=3, ff_mult=2), frames=10, rows=2)
    per_block = 4 * 64 * 64 + 3 * 64 * 128  # q, k, v, o; gate, up, down
    assert flops.projections == 2 * per_block * 3 * 2 * 10
    assert flops.attention == 4 * 10 * 10 * 64 * 2 * 3
    full = step_flops(DiTConfig(), 2048)
    assert 8.7e12 < full.projections < 8.9e12 and step_flops(DiTConfig(), 4096).attention == 4 * full.attention


def test_the_roofline_prints_each_precisions_rates_and_the_step_bound(tmp_path, capsys):
    data = main(["--quick", "--device", "cpu", "--frames", "32", "--dtype", "fp32", "--out", str(tmp_path)])
    (written,) = tmp_path.glob("roofline-cpu-*-quick.json")
    assert json.loads(written.read_text())["rows"] == data["rows"]
    (row,) = data["rows"]
    assert row["dtype"] == "fp32" and row["matmul_tflops"] > 0 and row["attention_tflops"] > 0
    flops = step_flops(DiTConfig(), 32)
    expected = flops.projections / (row["matmul_tflops"] * 1e12) + flops.attention / (row["attention_tflops"] * 1e12)
    assert abs(row["step_bound_s"] - expected) <= 1e-9 * expected
    out = capsys.readouterr().out
    assert "| dtype" in out and "step bound s" in out and str(written) in out
