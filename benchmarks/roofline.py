"""This device's ceiling for a DiT step: the matrix-product and attention rates it reaches, per precision, and the
fastest one guided step of the full-size DiT could run at them.

    python -m benchmarks.roofline [--quick] [--device cpu|cuda] [--dtype fp32,bf16] [--frames 2048] [--out DIR]

Times ``F.linear`` of ``2 x frames`` rows (both branches of one song) through the MLP's up projection
(width -> 4 x width: most of a step's arithmetic has this shape) and SDPA over the step's attention shape, each in
every precision, and prints their TFLOP/s. The **bound** adds the step's projection FLOPs over the product rate and
its attention FLOPs over the attention rate (``step_flops``; the convolutions and element-wise work, a few per cent,
are left out): no implementation of that step in that precision runs faster on this device. ``benchmarks.model``'s
measured step over the bound says how close a path is to the ceiling; the bound in bf16 over the measured fp32
reference says what ratio the hardware allows at most.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.report import RESULTS, environment, result_path, table, write_json
from benchmarks.timing import measure
from inference_container.diffrhythm.config import DiTConfig
from inference_container.diffrhythm.device import cpu_has_bf16, resolve_device, torch_dtype


@dataclass(frozen=True)
class StepFlops:
    """Floating-point operations of one guided step (``rows`` = 2 per song) of ``frames`` frames."""

    projections: float  # the decoder blocks' matrix products
    attention: float  # QK^T and AV


def step_flops(config: DiTConfig, frames: int, rows: int = 2) -> StepFlops:
    """The decoder blocks' work in one guided step: ``2 x parameters`` per row and frame for the projections,
    ``4 x frames^2 x width`` per row and block for the attention.

    Example
    -------
    >>> flops = step_flops(DiTConfig(), 2048)
    >>> round(flops.projections / 1e12, 2), round(flops.attention / 1e12, 2)
    (8.8, 1.1)
    """
    d = config.dim
    per_block = 4 * d * d + 3 * d * d * config.ff_mult  # q, k, v, o; gate, up, down
    return StepFlops(projections=2.0 * per_block * config.depth * rows * frames,
                     attention=4.0 * frames * frames * d * rows * config.depth)


def rates(device: torch.device, dtype: torch.dtype, config: DiTConfig, frames: int, reps: int) -> tuple[float, float]:
    """TFLOP/s of the up projection over ``2 x frames`` rows and of SDPA over the step's attention, in ``dtype``."""
    d, heads = config.dim, config.attention_heads
    x = torch.randn(2 * frames, d, device=device, dtype=dtype)
    weight = torch.randn(d * config.ff_mult, d, device=device, dtype=dtype)
    q, k, v = (torch.randn(2, heads, frames, d // heads, device=device, dtype=dtype) for _ in range(3))
    linear = measure(lambda: F.linear(x, weight), device, warmup=1, reps=reps).median_s
    attention = measure(lambda: F.scaled_dot_product_attention(q, k, v), device, warmup=1, reps=reps).median_s
    return 2.0 * x.shape[0] * weight.numel() / linear / 1e12, 4.0 * frames * frames * d * 2 / attention / 1e12


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.roofline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 frames, one timed run: a smoke run")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--dtype", help="precisions (default: fp32, and bf16 where the device computes it natively)")
    parser.add_argument("--frames", type=int, help="latent frames of the step (default 2048: a 95 s song)")
    parser.add_argument("--reps", type=int, help="timed runs of each operation (default 3; --quick 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON (default benchmarks/results)")
    parser.add_argument("--commit", help="the git commit to record instead of asking git")
    args = parser.parse_args(argv)
    device = torch.device(resolve_device(args.device))
    gpu = device.type == "cuda"
    precisions = (args.dtype.split(",") if args.dtype else
                  ["fp32", "bf16"] if gpu or cpu_has_bf16() else ["fp32"])
    frames = args.frames or (256 if args.quick else 2048)
    reps = args.reps or (1 if args.quick else 3)
    config = DiTConfig()
    flops = step_flops(config, frames)
    data: dict[str, Any] = {"benchmark": "roofline", "environment": environment(device, args.commit), "frames": frames,
            "step_tflop": {"projections": flops.projections / 1e12, "attention": flops.attention / 1e12},
            "rows": []}
    for precision in precisions:
        product, attention = rates(device, torch_dtype(precision), config, frames, reps)
        bound = flops.projections / (product * 1e12) + flops.attention / (attention * 1e12)
        data["rows"].append({"dtype": precision, "matmul_tflops": product, "attention_tflops": attention,
                             "step_bound_s": bound})
    path = result_path(args.out, "roofline", device, "quick" if args.quick else "")
    write_json(path, data)
    rows = [(r["dtype"], f"{r['matmul_tflops']:.3f}", f"{r['attention_tflops']:.3f}", f"{r['step_bound_s']:.2f}")
            for r in data["rows"]]
    print(f"{data['environment']['device_name']} · torch {torch.__version__} · {frames} frames · one guided step of "
          f"the full-size DiT: {flops.projections / 1e12:.2f} TFLOP in projections, {flops.attention / 1e12:.2f} in "
          f"attention\n" + table(["dtype", "matmul TFLOP/s", "attention TFLOP/s", "step bound s"], rows)
          + f"\n\n{path}", flush=True)
    return data


if __name__ == "__main__":
    main()
