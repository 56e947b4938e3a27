"""Every sampling preset's cost: DiT forward rows per song (counted) and seconds per song (measured), beside ``high``.

    python -m benchmarks.presets [--quick] [--device cuda|cpu] [--dtype bf16] [--frames 2048] [--batch 1,4]
        [--presets high,fast,turbo] [--reps 3] [--warmup 1] [--depth 16] [--dim 2048] [--out DIR] [--commit SHA]

Per preset (``shared.presets.PRESETS``): its steps and schedule, the updates (``steps - 1``) and how many of them are
guided (their time inside the preset's guidance interval), the DiT rows one song costs (two per guided update, one
per other: ``SamplingSettings.forward_rows``; ``high``: 31 x 2 = 62) and their share of ``high``'s, and the time of
``sampling.sample`` (what the pipeline runs: the preset's grid, guidance on its interval, the conditional branch
alone elsewhere) per song, preparation included, decode excluded (the same for every preset), with its ratio to
``high``'s. While timing, a spy counts the rows the DiT actually ran: the run fails if they differ from the count.

The model is the full-size DiT (``DiTConfig()``, 1.1 B parameters) with random weights: its speed does not depend on
the values, but its songs are noise, so this says nothing about a preset's quality. On real weights, compare presets
with the same seed through each song's ``lyrics_accuracy`` and ``score`` (``README.md``, "Presets").

``--quick``: the CPU smoke run (about a minute on 2 cores): a narrow DiT (width 512, depth 2), 64 frames, one timed
run and no warm-up, every preset but ``maximum`` and ``ultra`` (whose rows are counted all the same).

The goal line: a fast preset makes a 95 s song (2048 frames: the ``95s`` model) with at most a third of ``high``'s
DiT forward rows.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks.model import make_inputs
from benchmarks.report import RESULTS, environment, result_path, table, write_json
from benchmarks.timing import Timing, measure
from inference_container.diffrhythm.config import DiTConfig
from inference_container.diffrhythm.device import resolve_precision, torch_dtype
from inference_container.diffrhythm.guidance import Inpainting
from inference_container.diffrhythm.model import DiT
from inference_container.diffrhythm.sampling import sample
from shared.presets import PRESETS, Preset, SamplingSettings
from shared.timeline import SHORT

QUICK_SKIP = (Preset.MAXIMUM, Preset.ULTRA)  # the long ones: counted, not timed, in --quick


def cost_row(preset: Preset, settings: SamplingSettings) -> dict[str, Any]:
    """What one song costs at ``settings``, counted (no model needed).

    >>> row = cost_row(Preset.FAST, PRESETS[Preset.FAST])
    >>> row["updates"], row["guided"], row["dit_rows"], row["vs_high_rows"]
    (15, 5, 20, 0.3226)
    """
    high = PRESETS[Preset.HIGH].forward_rows()
    rows = settings.forward_rows()
    lo, hi = settings.guidance_interval
    return {"preset": preset.value, "steps": settings.steps, "schedule": settings.schedule.value,
            "guidance_interval": [lo, hi], "cfg_strength": settings.cfg_strength, "updates": settings.steps - 1,
            "guided": sum(settings.guided_updates()), "dit_rows": rows, "vs_high_rows": round(rows / high, 4)}


class RowCounter:
    """Counts the rows of every DiT forward (the batch size of ``x``) around the model's own ``forward``."""

    def __init__(self, model: DiT) -> None:
        self.rows = 0
        forward = model.forward

        def counted(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            self.rows += x.shape[0]
            return forward(x, *args, **kwargs)

        model.forward = counted  # type: ignore[method-assign]


def sampler(model: DiT, settings: SamplingSettings, frames: int, batch: int, device: torch.device,
            seed: int) -> Callable[[], torch.Tensor]:
    """One batch of songs sampled as the pipeline samples them at ``settings``."""
    inputs = make_inputs(model.config, frames, batch, device, seed)
    return lambda: sample(model, Inpainting.everything(batch, frames, inputs.noise.shape[-1], device), inputs.noise,
                          text=inputs.text, style=inputs.style.to(model.dtype),
                          negative_style=inputs.negative_style.to(model.dtype), start_time=inputs.start_time,
                          duration=inputs.duration, steps=settings.steps, cfg_strength=settings.cfg_strength,
                          schedule=settings.schedule, guidance_interval=settings.guidance_interval)


def _ratio(value: float | None, high: float | None) -> str | None:
    return f"{value / high:.2f}" if value is not None and high else None


def report(data: dict[str, Any]) -> str:
    """The table: one row per preset and batch, with the goal line."""
    high_s = {r["batch"]: r["per_song_s"] for r in data["rows"] if r["preset"] == "high" and "per_song_s" in r}
    lines = [[r["preset"], r["steps"], r["schedule"], "{:g}..{:g}".format(*r["guidance_interval"]), r["updates"],
              r["guided"], r["dit_rows"], f"{r['vs_high_rows']:.2f}", r["batch"],
              f"{r['per_song_s']:.3f}" if "per_song_s" in r else r.get("skipped"),
              _ratio(r.get("per_song_s"), high_s.get(r["batch"]))] for r in data["rows"]]
    s = data["settings"]
    head = (f"Sampling cost per preset: {s['frames']} frames, DiT width {s['dim']} depth {s['depth']}, "
            f"{s['precision']}, "
            f"{data['environment']['device_name']}; s/song: median of {s['reps']} after {s['warmup']} warm-up, "
            "sampling only (decode is the same for every preset)")
    body = table(["preset", "steps", "schedule", "guided t", "updates", "guided", "DiT rows/song", "vs high",
                  "batch", "s/song", "vs high"], lines)
    return f"{head}:\n{body}\n{data['goal']}"


def goal(frames: int) -> str:
    """The goal line: whether ``fast`` needs at most a third of ``high``'s DiT rows per song."""
    high = PRESETS[Preset.HIGH].forward_rows()
    fast = PRESETS[Preset.FAST].forward_rows()
    met = "met" if fast * 3 <= high else "NOT met"
    seconds = "a 95 s song" if frames == SHORT.max_frames else f"{frames} frames (a 95 s song is {SHORT.max_frames})"
    return (f"Goal (a fast preset: a 95 s song with at most a third of high's DiT forwards): {met}: fast makes "
            f"{seconds} with {fast} DiT rows, {fast / high:.2f} of high's {high}.")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.presets", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: width 512, depth 2, 64 frames, 1 run")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--dtype", default="auto", help="the DiT's precision (auto: the worker's choice)")
    parser.add_argument("--frames", type=int, help=f"latent frames (default {SHORT.max_frames}: a 95 s song)")
    parser.add_argument("--batch", default="1", help="songs per sampling call, comma-separated")
    parser.add_argument("--presets", help="comma-separated (default: all)")
    parser.add_argument("--depth", type=int, help="DiT blocks (default 16, the published model's)")
    parser.add_argument("--dim", type=int, help="DiT width (default 2048, the published model's)")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--commit")
    args = parser.parse_args(argv)
    device = torch.device("cpu" if args.quick else args.device if args.device != "auto"
                          else "cuda" if torch.cuda.is_available() else "cpu")
    precision = "fp32" if args.quick else resolve_precision(device.type, args.dtype)
    frames = args.frames or (64 if args.quick else SHORT.max_frames)
    depth = args.depth or (2 if args.quick else DiTConfig().depth)
    dim = args.dim or (512 if args.quick else DiTConfig().dim)
    reps = args.reps or (1 if args.quick else 3)
    warmup = args.warmup if args.warmup is not None else 0 if args.quick else 1
    batches = [int(b) for b in args.batch.split(",") if b]
    timed = ([Preset(p) for p in args.presets.split(",") if p] if args.presets
             else [p for p in Preset if not (args.quick and p in QUICK_SKIP)])

    settings = {"frames": frames, "dim": dim, "depth": depth, "precision": precision, "batches": batches, "reps": reps,
                "warmup": warmup, "seed": args.seed, "quick": args.quick, "timed": [p.value for p in timed]}
    data: dict[str, Any] = {"benchmark": "presets", "environment": environment(device, args.commit),
                            "settings": settings, "rows": []}
    path = result_path(args.out, "presets", device, "quick" if args.quick else "")
    torch.manual_seed(args.seed)
    with device:
        model = DiT(DiTConfig(dim=dim, depth=depth, max_frames=SHORT.max_frames)).eval().requires_grad_(False)
    model = model.to(torch_dtype(precision))
    counter = RowCounter(model)
    for preset in Preset:
        for batch in batches:
            row = {**cost_row(preset, PRESETS[preset]), "batch": batch}
            data["rows"].append(row)
            if preset not in timed:
                row["skipped"] = "not timed (--quick)" if args.quick else "not timed"
                continue
            before = counter.rows
            timing: Timing = measure(sampler(model, PRESETS[preset], frames, batch, device, args.seed), device,
                                     warmup=warmup, reps=reps)
            ran = (counter.rows - before) / (warmup + reps) / batch
            if ran != row["dit_rows"]:
                raise AssertionError(f"{preset.value}: the DiT ran {ran} rows per song, counted {row['dit_rows']}")
            row |= {"sampling_s": round(timing.median_s, 4), "per_song_s": round(timing.median_s / batch, 4),
                    "runs_s": [round(r, 4) for r in timing.runs_s]}
            print(f"{preset.value:9} x{batch}: {row['dit_rows']} rows/song, {row['per_song_s']:.3f} s/song",
                  flush=True)
            write_json(path, data)
    data["goal"] = goal(frames)
    write_json(path, data)
    print("\n" + report(data) + f"\n\nwritten: {path}", flush=True)
    return data


if __name__ == "__main__":
    main()
