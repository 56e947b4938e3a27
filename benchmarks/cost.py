"""What a song costs: songs per GPU-hour from a ``benchmarks.model`` run, and dollars per 95 s and 285 s song.

    python -m benchmarks.cost [--model-json FILE] [--decode fp32|fp16|bf16] [--window whole|128] [--out DIR]

Reads a model JSON (by default the newest full-size GPU run in ``benchmarks/results/``; the newest of any run when
there is none), takes each whole-song row (sampling + one decode per row, as ``benchmarks.model`` reports it), and
prices the best of our product's rows (eager or compiled, with the worker's default decode) per song length with the
instance table below, beside hosted peers' prices.

The measured GPU is an H200 or H100, not a g5/g6 GPU: rows for other GPUs scale the measured throughput by the ratio
of the GPUs' dense BF16 tensor peaks (``GPUS``) and are marked ``estimate``. That ratio ignores that smaller GPUs
throttle to their power limit (an L4 draws at most 72 W) and that the decode does not scale like the DiT, so the
estimates are optimistic: read their costs as lower bounds until measured on the instance.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import RESULTS, git_commit, table, write_json
from inference_container.diffrhythm.device import resolve_decode

SHORT_S, LONG_S = 95, 285  # song lengths the published models generate: 2048 and 6144 latent frames
FRAMES = {2048: SHORT_S, 6144: LONG_S}
GOAL_SONGS_PER_HOUR = 7000  # 95 s songs per GPU-hour with batching (H100)
GOAL_DOLLARS = 0.001  # GPU cost per 95 s song on a g5/g6 at on-demand prices


@dataclass(frozen=True)
class Gpu:
    """A GPU's dense (no sparsity) BF16 tensor-core peak, TFLOP/s, and where the figure comes from."""

    name: str
    bf16_tflops: float
    source: str


GPUS = {gpu.name: gpu for gpu in (
    Gpu("H100", 989.0, "NVIDIA H100 SXM datasheet: BF16 1,979 TFLOPS with sparsity, half without"),
    Gpu("H200", 989.0, "NVIDIA H200 datasheet: BF16 1,979 TFLOPS with sparsity (the H100's compute, more memory)"),
    Gpu("A10G", 70.0, "Baseten, 'NVIDIA A10 vs A10G for ML model inference' (spec table: A10G 70 TFLOPS FP16 "
                      "tensor, against the A10's 125)"),
    Gpu("L4", 121.0, "NVIDIA L4 datasheet: BF16 242 TFLOPS with sparsity"),
    Gpu("L40S", 362.0, "NVIDIA L40S datasheet: BF16 733 TFLOPS with sparsity"),
)}


@dataclass(frozen=True)
class Instance:
    """An instance type's price per GPU-hour (USD, us-east-1, Linux), on demand and a typical Spot price."""

    name: str
    gpu: str
    on_demand: float
    spot: float
    as_of: str
    source: str


# Prices are not fetched: update them here (and their date and source) when they change. Spot prices move by zone and
# hour (``aws ec2 describe-spot-price-history``); the figures are typical, not quotes.
INSTANCES = (
    # on demand: AWS EC2 On-Demand pricing, us-east-1 Linux (aws.amazon.com/ec2/pricing/on-demand), unchanged since
    # launch; also quoted for June 2026 by factualminds.com ("g5.xlarge is $1.006/hr"). Spot: ~60 % below on demand,
    # the usual savings the Spot Instance Advisor shows for g5 (approximate).
    Instance("g5.xlarge", "A10G", 1.006, 0.40, "2026-06", "AWS on-demand price list; Spot approx. (~60 % off)"),
    # on demand: AWS EC2 On-Demand pricing, us-east-1 Linux (G6 launch price, 2024). Spot: approximate, as above.
    Instance("g6.xlarge", "L4", 0.8048, 0.32, "2025", "AWS on-demand price list; Spot approx. (~60 % off)"),
    # on demand: AWS EC2 On-Demand pricing, us-east-1 Linux (G6e launch price, 2024). Spot: approximate, as above.
    Instance("g6e.xlarge", "L40S", 1.861, 0.75, "2025", "AWS on-demand price list; Spot approx. (~60 % off)"),
    # per GPU: p5.48xlarge (8 x H100) at $55.04/h after AWS's price cut of June 2025 ("up to 45 %" on P5; it was
    # $98.32/h). Spot: ~$2.00-2.50 per GPU-hour (costnimbus.com, "GPU cost management", March 2026): its middle.
    Instance("p5 (per GPU)", "H100", 55.04 / 8, 2.25, "2025-06 / 2026-03",
             "AWS P5 price cut, June 2025; Spot: costnimbus.com, March 2026"),
)


@dataclass(frozen=True)
class Peer:
    """A hosted API's price per song of each length (``None``: not stated)."""

    name: str
    short: float | None
    long: float | None
    source: str


PEERS = (
    Peer("fal (fal-ai/diffrhythm)", 0.095, None, "fal.ai/models/fal-ai/diffrhythm, per 95 s song"),
    Peer("PiAPI (Qubico/diffrhythm)", 0.02, 0.02, "PiAPI DiffRhythm API docs: txt2audio-base and -full, "
                                                  "$0.02 per generation"),
)


def per_song_s(sampling_s: float, decode_s: float, batch: int) -> float:
    """Seconds of GPU per song when ``batch`` songs are sampled together and each row is decoded after.

    >>> per_song_s(3.3, 0.283, 4)
    1.108
    """
    return round((sampling_s + decode_s * batch) / batch, 6)


def songs_per_hour(seconds_per_song: float) -> float:
    """Songs one GPU makes in an hour, back to back.

    >>> songs_per_hour(1.2)
    3000.0
    """
    return 3600.0 / seconds_per_song


def dollars_per_song(price_per_hour: float, seconds_per_song: float, relative_speed: float = 1.0) -> float:
    """The GPU cost of one song on a GPU that runs ``relative_speed`` times as fast as the measured one.

    >>> dollars_per_song(3.6, 1.0)
    0.001
    >>> round(dollars_per_song(0.8, 1.0, relative_speed=0.5), 6)
    0.000444
    """
    return price_per_hour * seconds_per_song / relative_speed / 3600.0


def gpu_of(device_name: str) -> str | None:
    """Which ``GPUS`` entry a device name is (``None``: none of them, e.g. a CPU).

    >>> gpu_of("NVIDIA H200"), gpu_of("NVIDIA H100 80GB HBM3"), gpu_of("AMD EPYC 7R13 Processor")
    ('H200', 'H100', None)
    """
    for name in GPUS:
        if re.search(rf"\b{name}\b", device_name):
            return name
    return None


def relative_speed(target: str, measured: str) -> float:
    """How fast ``target`` runs the DiT relative to ``measured``, by their dense BF16 peaks.

    >>> round(relative_speed("L4", "H100"), 3)
    0.122
    """
    return GPUS[target].bf16_tflops / GPUS[measured].bf16_tflops


def newest_model_json(folder: Path) -> Path:
    """The newest (by its recorded date) full-size GPU run with whole songs to price (sampling and decode rows: a
    ``--no-decode`` run has none) among ``folder``'s model JSONs; else the newest run of any kind."""
    runs = []
    for path in folder.glob("model-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        env, settings = data.get("environment", {}), data.get("settings", {})
        priceable = env.get("device") == "cuda" and not settings.get("quick") and bool(song_rows(data))
        runs.append((priceable, env.get("date", ""), path))
    if not runs:
        raise FileNotFoundError(f"no model-*.json in {folder}: run python -m benchmarks.model first")
    return max(runs)[2]


PRODUCT_PATHS = ("ours", "ours-compiled")  # what the worker runs (compiled on CUDA by default); fused is not


def decode_window(row: dict[str, Any]) -> str:
    """A decode row's window: ``whole`` or frames per chunk (older runs timed 128-frame chunks as path ``ours``)."""
    return str(row["path"]).removeprefix("vae-") if str(row["path"]).startswith("vae-") else "128"


def song_rows(data: dict[str, Any], decode_precision: str | None = None, window: str | None = None
              ) -> list[dict[str, Any]]:
    """Every measured whole song of a model run: sampling plus one decode per row, in ``decode_precision`` and
    ``window`` (default: the worker's default decode on the run's device, ``device.resolve_decode``)."""
    default_precision, default_chunk = resolve_decode(data["environment"]["device"])
    precision, window = decode_precision or default_precision, window or str(default_chunk or "whole")
    decodes = {r["frames"]: r["median_s"] for r in data["rows"] if r["stage"] == "decode" and "median_s" in r
               and r["precision"] == precision and decode_window(r) == window}
    rows = []
    for r in data["rows"]:
        if r["stage"] != "sampling" or "median_s" not in r or r["frames"] not in decodes:
            continue
        seconds = per_song_s(r["median_s"], decodes[r["frames"]], r["batch"])
        rows.append({"frames": r["frames"], "song_s": FRAMES.get(r["frames"]), "batch": r["batch"], "path": r["path"],
                     "precision": r["precision"], "sampling_s": r["median_s"], "decode_s": decodes[r["frames"]],
                     "decode": f"{precision} {window}", "per_song_s": seconds,
                     "songs_per_gpu_hour": round(songs_per_hour(seconds), 1)})
    return rows


def best(rows: Sequence[dict[str, Any]], frames: int) -> dict[str, Any] | None:
    """Our fastest product row per song at ``frames`` (``PRODUCT_PATHS``; any batch, any precision)."""
    ours = [r for r in rows if r["frames"] == frames and r["path"] in PRODUCT_PATHS]
    return min(ours, key=lambda r: r["per_song_s"]) if ours else None


def price_rows(short: dict[str, Any] | None, long: dict[str, Any] | None, measured: str | None
               ) -> list[dict[str, Any]]:
    """Each instance's songs per GPU-hour and dollars per song (on demand and Spot), from our best rows."""
    out = []
    for inst in INSTANCES:
        speed = None if measured is None else relative_speed(inst.gpu, measured)
        row: dict[str, Any] = {"instance": inst.name, "gpu": inst.gpu, "on_demand_per_hour": round(inst.on_demand, 4),
                               "spot_per_hour": inst.spot, "relative_speed": None if speed is None else round(speed, 4),
                               "estimate": inst.gpu != measured, "as_of": inst.as_of, "source": inst.source}
        for label, song in (("95s", short), ("285s", long)):
            if speed is None or song is None:
                continue
            row[f"songs_per_gpu_hour_{label}"] = round(songs_per_hour(song["per_song_s"] / speed), 1)
            row[f"dollars_{label}_on_demand"] = dollars_per_song(inst.on_demand, song["per_song_s"], speed)
            row[f"dollars_{label}_spot"] = dollars_per_song(inst.spot, song["per_song_s"], speed)
        out.append(row)
    return out


def _usd(value: float | None) -> str:
    return "" if value is None else f"${value:.4f}" if value >= 0.001 else f"${value:.5f}"


def tables(data: dict[str, Any]) -> str:
    src = data["source"]
    throughput = [[r["song_s"] or r["frames"], r["batch"], r["path"], r["precision"], f"{r['sampling_s']:.3f}",
                   f"{r['decode_s']:.3f}", f"{r['per_song_s']:.3f}", f"{r['songs_per_gpu_hour']:,.0f}"]
                  for r in data["songs"]]
    prices = []
    for r in data["prices"]:
        basis = "n/a" if r["relative_speed"] is None else (
            f"estimate x{r['relative_speed']:.3f}" if r["estimate"] else "measured GPU")
        prices.append([r["instance"], r["gpu"], basis, f"${r['on_demand_per_hour']:.3f}", f"${r['spot_per_hour']:.2f}",
                       f"{r.get('songs_per_gpu_hour_95s', 0):,.0f}" if "songs_per_gpu_hour_95s" in r else "",
                       _usd(r.get("dollars_95s_on_demand")), _usd(r.get("dollars_95s_spot")),
                       _usd(r.get("dollars_285s_on_demand")), _usd(r.get("dollars_285s_spot"))])
    for p in PEERS:
        prices.append([p.name, "hosted", "price list", "", "", "", _usd(p.short), "", _usd(p.long), ""])
    goals = data["goals"]
    lines = [
        f"Measured on {src['device_name']} ({src['file']}, {src['date'][:10]}, commit {src['commit'][:7]}); "
        f"sampling {src['steps']} steps, cfg {src['cfg']}, + {data['decode']} decode of every row, s:\n"
        + table(["song s", "batch", "path", "dtype", "sampling", "decode", "per song", "songs/GPU-h"], throughput),
        "GPU cost per song (our best row per length; estimate: scaled by the GPUs' dense BF16 peaks, optimistic):\n"
        + table(["instance", "GPU", "basis", "$/GPU-h", "Spot $/h", "95 s songs/h", "$/95 s", "$/95 s Spot",
                 "$/285 s", "$/285 s Spot"], prices),
        "Goals: " + "; ".join(f"{k}: {v}" for k, v in goals.items()),
    ]
    return "\n\n".join(lines)


def goals(short: dict[str, Any] | None, prices: Sequence[dict[str, Any]], measured: str | None) -> dict[str, str]:
    """The throughput and cost goals against this run's figures."""
    out: dict[str, str] = {}
    if short is not None and measured is not None:
        rate = songs_per_hour(short["per_song_s"])
        out[f">= {GOAL_SONGS_PER_HOUR:,} 95 s songs per GPU-hour ({measured})"] = (
            f"{rate:,.0f}: {'met' if rate >= GOAL_SONGS_PER_HOUR else 'NOT met'}")
    for row in prices:
        if row["instance"].startswith(("g5.", "g6.")) and "dollars_95s_on_demand" in row:
            cost = row["dollars_95s_on_demand"]
            out[f"<= ${GOAL_DOLLARS} per 95 s song on {row['instance']} on demand (estimate)"] = (
                f"{_usd(cost)}: {'met' if cost <= GOAL_DOLLARS else 'NOT met'}")
    return out


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cost", description=__doc__.split("\n")[0])
    parser.add_argument("--model-json", type=Path, help="a model run (default: the newest full-size GPU run in "
                                                         "benchmarks/results)")
    parser.add_argument("--decode", choices=["fp32", "fp16", "bf16"],
                        help="which decode rows to add (default: the worker's default on the run's device)")
    parser.add_argument("--window", help="the decode rows' window: whole or 128 (default: the worker's default)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON (default benchmarks/results)")
    parser.add_argument("--commit", help="the git commit to record instead of asking git")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    started = time.perf_counter()
    source = args.model_json or newest_model_json(RESULTS)
    model = json.loads(source.read_text())
    env = model["environment"]
    measured = gpu_of(env["device_name"]) if env["device"] == "cuda" else None
    songs = song_rows(model, args.decode, args.window)
    short, long = best(songs, 2048), best(songs, 6144)
    prices = price_rows(short, long, measured)
    data: dict[str, Any] = {
        "benchmark": "cost",
        "environment": {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "git": git_commit(args.commit)},
        "source": {"file": source.name, "date": env["date"], "device": env["device"], "device_name": env["device_name"],
                   "torch": env["torch"], "commit": env["git"]["commit"], "steps": model["settings"]["steps"],
                   "cfg": model["settings"]["cfg_strength"], "quick": model["settings"]["quick"]},
        "decode": songs[0]["decode"] if songs else None, "measured_gpu": measured, "songs": songs,
        "best": {"95s": short, "285s": long}, "prices": prices,
        "gpus": [asdict(g) for g in GPUS.values()], "peers": [asdict(p) for p in PEERS],
    }
    data["goals"] = goals(short, prices, measured)
    slug = "cpu" if env["device"] == "cpu" else "cuda-" + re.sub(r"[^a-z0-9]+", "-", env["device_name"].lower())
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    path = args.out / f"cost-{slug.strip('-')}-{date}{'-quick' if model['settings']['quick'] else ''}.json"
    write_json(path, data)
    note = "" if measured else ("\n(not a GPU run: no instance can be priced from it; pass --model-json with a GPU "
                                "run)")
    print(tables(data) + note + f"\n\n{path} ({time.perf_counter() - started:.1f} s)", flush=True)
    return data


if __name__ == "__main__":
    main()
