"""Stems speed: ``stems.Separator`` on a full-size htdemucs with random weights (speed does not depend on them).

    python -m benchmarks.stems [--device cuda|cpu] [--seconds 95,285] [--quick] [--out DIR]

Saves a randomly initialised HTDemucs with the published model's arguments (41.5 M parameters) in the published
``.th`` format, loads it as the worker does (``Separator.load``), checks that the device agrees with the CPU on a
short clip, then times the separation of a 95 s and a 285 s song (one run each after the warm-up) and reports peak GPU
memory and ``max |vocals + accompaniment - song|``. ``--quick``: a 10 s song on the CPU.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.report import RESULTS, environment, result_path, table, write_json
from inference_container.diffrhythm.stems import Separator
from shared.timeline import SAMPLE_RATE


def save_random_htdemucs(path: Path) -> Path:
    """A full-size HTDemucs (the published arguments) with random weights, saved as the published file is."""
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], segment=Fraction(39, 5), bottom_channels=512)
    torch.save({"klass": HTDemucs, "args": (), "kwargs": model._init_args_kwargs[1],
                "state": {k: v.half() for k, v in model.state_dict().items()}, "training_args": {},
                "metrics": ({}, None)}, path)
    return path


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stems", description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--seconds", default="95,285", help="song lengths to separate")
    parser.add_argument("--quick", action="store_true", help="a 10 s song on the CPU")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--commit")
    args = parser.parse_args(argv)
    device = torch.device("cpu" if args.quick else args.device if args.device != "auto"
                          else "cuda" if torch.cuda.is_available() else "cpu")
    lengths = [10.0] if args.quick else [float(s) for s in args.seconds.split(",") if s]
    data: dict[str, Any] = {"benchmark": "stems", "environment": environment(device, args.commit), "rows": []}
    with tempfile.TemporaryDirectory() as folder:
        path = save_random_htdemucs(Path(folder) / "htdemucs.th")
        started = time.perf_counter()
        separator = Separator.load(path, str(device))
        data["load_s"] = round(time.perf_counter() - started, 3)
        rng = np.random.default_rng(0)
        clip = (0.2 * rng.standard_normal((SAMPLE_RATE * 9, 2))).astype(np.float32)
        vocals, _ = separator.separate(clip, SAMPLE_RATE)  # the warm-up
        if device.type != "cpu":
            reference = Separator.load(path, "cpu").separate(clip, SAMPLE_RATE)[0]
            data["max_abs_vs_cpu"] = float(np.abs(vocals - reference).max())
    for seconds in lengths:
        song = (0.2 * rng.standard_normal((int(SAMPLE_RATE * seconds), 2))).astype(np.float32)
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        vocals, accompaniment = separator.separate(song, SAMPLE_RATE)
        elapsed = time.perf_counter() - started
        data["rows"].append({
            "song_s": seconds, "seconds": round(elapsed, 3), "realtime_x": round(seconds / elapsed, 1),
            "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
            "max_abs_sum_error": float(np.abs(vocals + accompaniment - song).max())})
    path = result_path(args.out, "stems", device, "quick" if args.quick else "")
    write_json(path, data)
    print(f"{data['environment']['device_name']}: load {data['load_s']} s"
          + (f", device vs CPU max |diff| {data['max_abs_vs_cpu']:.1e}" if "max_abs_vs_cpu" in data else "") + "\n"
          + table(["song s", "separation s", "x realtime", "peak GiB", "max |v + a - song|"],
                  [[r["song_s"], r["seconds"], r["realtime_x"], r["peak_gib"], f"{r['max_abs_sum_error']:.1e}"]
                   for r in data["rows"]]) + f"\n\n{path}", flush=True)
    return data


if __name__ == "__main__":
    main()
