"""Cold start: a fresh process, from the weights bundle to a DiT that has run its first step, per variant, from the
converted safetensors file beside the same from the published ``.pt``.

    python -m benchmarks.load [--quick] [--device cpu|cuda] [--variants 95s,full] [--dtype fp32,bf16]
        [--paths converted,pt,pt-mmap] [--cache cold,warm] [--reps 3] [--frames 16] [--depth 16] [--out DIR]

``--quick``: depth 2 (0.16 B parameters, 0.6 GiB), one cold run of ``converted`` and ``pt`` per variant and
precision: about a minute on two cores. The default is the real size (1.11 B parameters, 4.1 GiB in fp32), every
path, both cache states, 3 runs each: about 15 minutes on two cores, and 15 GiB of free disk (one variant at a time).

For each variant it writes a bundle in a temporary folder holding a full-size DiT with random weights (speed does not
depend on the values) as the published ``cfm_model.pt`` (``{"model_state_dict": {"transformer.*": fp32}}``) and
its manifest, runs the product's ``convert_weights`` on it (timed: the image build's cost), then starts one fresh
Python process per measurement, so each pays the same interpreter start and imports, with no weights in its memory:

- **import**: torch and the model code;
- **load**: ``checkpoint.load_variant`` (``Pipeline.load``'s DiT path): read, build, move to the device, cast. From
  the converted file this is a memory map (on a CPU the tensors stay backed by it and pages are read on first use);
- **warm**: the first guided DiT step (both branches, ``--frames`` frames: it reads every weight) and a device
  synchronize; where the device cannot compute the precision at speed (bf16 on a CPU without AVX512-BF16 or AMX) a
  sum over every weight instead, which reads every page as a step would;
- **ready**: from the parent starting the process to the end of the warm step (interpreter start included).

Paths: ``converted`` (the product's choice: the converted file in the precision), ``pt`` (the published file, as
``Pipeline.load`` falls back to it) and ``pt-mmap`` (not a product path: the same ``.pt`` through
``torch.load(mmap=True)``, to show what a memory map alone gives). ``vs pt`` is the ``pt`` time over the row's.

Page cache: ``cold`` evicts every file of the bundle with ``posix_fadvise(DONTNEED)`` after ``sync`` before each run
(advisory, but the kernel drops clean pages), so the file is read from the disk as on a fresh instance; ``warm`` reads
the run's file once just before it, so it is served from memory. Runs alternate between paths.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

VARIANT_NAMES = ("95s", "full")
PATHS = ("converted", "pt", "pt-mmap")
GIB = 2**30


@dataclass(frozen=True)
class Settings:
    """What one run measures (``--quick`` and the device choose the defaults)."""

    device: str
    variants: tuple[str, ...]
    precisions: tuple[str, ...]
    paths: tuple[str, ...]
    caches: tuple[str, ...]
    reps: int
    frames: int
    depth: int
    dim: int
    seed: int
    quick: bool
    work_dir: str | None


# ---- the child: one cold start, reported as one JSON line

def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Import, load, warm, as a worker starting on this bundle would; every phase timed."""
    start = time.perf_counter()
    import torch

    from inference_container.diffrhythm.bundle.reader import Bundle
    from inference_container.diffrhythm.checkpoint import _assign, load_variant
    from inference_container.diffrhythm.config import DiTConfig
    from inference_container.diffrhythm.device import synchronize, torch_dtype
    from inference_container.diffrhythm.guidance import guided
    from shared.timeline import VARIANTS

    imported = time.perf_counter()
    bundle, variant, precision, device = Bundle(Path(spec["root"])), spec["variant"], spec["precision"], spec["device"]
    if spec["path"] == "pt-mmap":
        path = bundle.dit(variant)
        config = DiTConfig.from_json(bundle.dit_config, max_frames=VARIANTS[variant].max_frames)
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)["model_state_dict"]
        model = _assign(state, config, path).to(device=device, dtype=torch_dtype(precision)).eval()
    else:
        model, path = load_variant(bundle, variant, precision, device, converted=spec["path"] == "converted")
    synchronize(device)
    loaded = time.perf_counter()
    with torch.inference_mode():
        if spec["step"]:
            frames, generator = spec["frames"], torch.Generator().manual_seed(0)
            text = torch.randint(1, 364, (1, frames), generator=generator).to(device)
            velocity = guided(model, text=text, cond=torch.zeros(1, frames, 64, device=device),
                              style=torch.randn(1, 512, generator=generator).to(device),
                              negative_style=torch.randn(1, 512, generator=generator).to(device),
                              start_time=torch.zeros(1, device=device),
                              duration=torch.full((1,), 0.5, device=device) if model.config.has_duration else None,
                              cfg_strength=4.0)
            velocity(torch.randn(1, frames, 64, generator=generator).to(device), torch.tensor(0.5, device=device))
        else:
            for parameter in model.parameters():  # reads every weight's pages, as a step would
                parameter.sum(dtype=torch.float32).item()
    synchronize(device)
    warmed = time.perf_counter()
    row = {"import_s": imported - start, "load_s": loaded - imported, "warm_s": warmed - loaded,
           "ready_wall": time.time(), "file": path.relative_to(bundle.root).as_posix(),
           "peak_rss_gib": peak_rss_gib()}
    if device.startswith("cuda"):
        row["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / GIB
    return row


def peak_rss_gib() -> float:
    """This process's peak resident memory (``VmHWM``: since its ``exec``, unlike ``ru_maxrss``, which a child
    inherits from its parent), file-backed pages of a memory map included."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / GIB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


# ---- the parent: bundles, runs, tables

def make_bundle(root: Path, variant: str, depth: int, dim: int, seed: int) -> dict[str, Any]:
    """A bundle with ``variant``'s full-size DiT (random weights) as the published ``.pt``, its manifest, nothing
    else; returns its facts (parameters, bytes, seconds to write)."""
    import torch

    from inference_container.diffrhythm.bundle.fetch import write_manifest
    from inference_container.diffrhythm.bundle.layout import dit_file
    from inference_container.diffrhythm.bundle.reader import Bundle
    from inference_container.diffrhythm.config import DiTConfig
    from inference_container.diffrhythm.model import DiT
    from shared.timeline import VARIANTS

    started = time.perf_counter()
    config = DiTConfig(dim=dim, depth=depth, max_frames=VARIANTS[variant].max_frames)
    with torch.device("meta"):
        model = DiT(config)
    model = model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.02, generator=generator)
    parameters = sum(p.numel() for p in model.parameters())
    bundle = Bundle(root)
    bundle.dit_config.parent.mkdir(parents=True, exist_ok=True)
    fields = {k: v for k, v in asdict(config).items() if k not in ("max_frames", "attention_heads", "rope_theta",
                                                                   "norm_eps")}
    bundle.dit_config.write_text(json.dumps({"model_type": "diffrhythm", "model": fields}))
    path = root / dit_file(variant)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_state_dict": {f"transformer.{k}": v for k, v in model.state_dict().items()}}, path)
    del model
    write_manifest(root, "benchmark: random weights", (variant,), {"": "benchmarks.load"})
    return {"parameters": parameters, "pt_bytes": path.stat().st_size, "write_s": time.perf_counter() - started}


def evict(root: Path) -> None:
    """Drop the bundle's files from the page cache (after writing dirty pages back)."""
    os.sync()
    for path in root.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def prime(path: Path) -> None:
    """Read ``path`` once so that it is in the page cache."""
    buffer = bytearray(16 << 20)
    with path.open("rb", buffering=0) as handle:
        while handle.readinto(buffer):
            pass


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One fresh process; its phases plus ``ready_s`` (from starting it to its warm step's end)."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(root), os.environ.get("PYTHONPATH"))))}
    spawned = time.time()
    done = subprocess.run([sys.executable, "-m", "benchmarks.load", "--child", json.dumps(spec)], cwd=root, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the child failed ({done.returncode}): {done.stderr[-3000:]}")
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    row["ready_s"] = row.pop("ready_wall") - spawned
    row["stderr"] = done.stderr.strip()[-500:]
    return row


def step_runs_at_speed(device: str, precision: str) -> bool:
    """Whether the warm phase is a real DiT step (not bf16 on a CPU without AVX512-BF16 or AMX, nor fp16 there)."""
    if device.startswith("cuda") or precision == "fp32":
        return True
    from inference_container.diffrhythm.device import cpu_has_bf16

    return precision == "bf16" and cpu_has_bf16()


def measure(settings: Settings, out: Path, commit: str | None) -> dict[str, Any]:
    """Every variant, precision, cache state and path, ``reps`` times; the JSON's content (written as it grows)."""
    import torch

    from benchmarks.report import environment, result_path, write_json
    from inference_container.diffrhythm.bundle.convert import convert_weights
    from inference_container.diffrhythm.bundle.reader import Bundle

    device = torch.device(settings.device)
    path = result_path(out, "load", device, "quick" if settings.quick else "")
    data: dict[str, Any] = {"benchmark": "load", "environment": environment(device, commit),
                            "settings": asdict(settings), "bundles": {}, "rows": []}
    started = time.perf_counter()
    for variant in settings.variants:
        with tempfile.TemporaryDirectory(prefix="diffrhythm-load-", dir=settings.work_dir) as folder:
            root = Path(folder)
            facts = make_bundle(root, variant, settings.depth, settings.dim, settings.seed)
            clock = time.perf_counter()
            convert_weights(root, settings.precisions, (variant,))
            facts["convert_s"] = time.perf_counter() - clock
            bundle = Bundle(root)
            facts["converted_bytes"] = {entry["precision"]: entry["bytes"] for entry in bundle.converted.values()}
            data["bundles"][variant] = facts
            print(f"{variant}: {facts['parameters'] / 1e9:.3f} B parameters, .pt {facts['pt_bytes'] / GIB:.2f} GiB "
                  f"written in {facts['write_s']:.0f} s, converted ({', '.join(settings.precisions)}) in "
                  f"{facts['convert_s']:.0f} s", flush=True)
            for precision in settings.precisions:
                step = step_runs_at_speed(settings.device, precision)
                for cache in settings.caches:
                    for rep in range(settings.reps):
                        for name in settings.paths:
                            spec = {"root": str(root), "variant": variant, "precision": precision,
                                    "device": settings.device, "path": name, "frames": settings.frames, "step": step}
                            if cache == "cold":
                                evict(root)
                            else:
                                prime(bundle.dit_choice(variant, precision).path if name == "converted"
                                      else bundle.dit(variant))
                            row = {"variant": variant, "precision": precision, "cache": cache, "path": name,
                                   "rep": rep, "warm_kind": "step" if step else "read", **run_child(spec)}
                            if name == "converted" and not row["file"].endswith(".safetensors"):
                                raise RuntimeError(f"the converted path loaded {row['file']}: {row['stderr']}")
                            data["rows"].append(row)
                            print(f"  {precision} {cache:<4} {name:<9} load {row['load_s']:6.2f} s  warm "
                                  f"{row['warm_s']:6.2f} s  ready {row['ready_s']:6.2f} s", flush=True)
                            data["elapsed_s"] = round(time.perf_counter() - started, 1)
                            write_json(path, data)
    data["summary"] = summarise(data["rows"])
    write_json(path, data)
    data["path"] = str(path)
    return data


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians per variant, precision, cache state and path, with the ratio to the ``pt`` path."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["variant"], row["precision"], row["cache"], row["path"]), []).append(row)
    summary = []
    for (variant, precision, cache, name), runs in groups.items():
        median = {k: statistics.median(r[k] for r in runs) for k in ("import_s", "load_s", "warm_s", "ready_s",
                                                                      "peak_rss_gib")}
        summary.append({"variant": variant, "precision": precision, "cache": cache, "path": name,
                        "file": runs[0]["file"], "warm_kind": runs[0]["warm_kind"], "runs": len(runs), **median,
                        "load_warm_s": statistics.median(r["load_s"] + r["warm_s"] for r in runs)})
    for entry in summary:
        pt = next(e for e in summary if (e["variant"], e["precision"], e["cache"], e["path"]) == (
            entry["variant"], entry["precision"], entry["cache"], "pt"))
        entry["vs_pt_load_warm"] = pt["load_warm_s"] / entry["load_warm_s"]
        entry["vs_pt_ready"] = pt["ready_s"] / entry["ready_s"]
    return summary


def render(data: dict[str, Any]) -> str:
    from benchmarks.report import table

    headers = ["variant", "dtype", "cache", "path", "file", "import s", "load s", "warm s", "load+warm s", "vs pt",
               "ready s", "vs pt", "peak RSS GiB"]
    rows = [[e["variant"], e["precision"], e["cache"], e["path"], e["file"].rsplit("/", 1)[-1],
             f"{e['import_s']:.2f}", f"{e['load_s']:.2f}",
             f"{e['warm_s']:.2f}" + ("" if e["warm_kind"] == "step" else "*"),
             f"{e['load_warm_s']:.2f}", f"{e['vs_pt_load_warm']:.2f}x", f"{e['ready_s']:.2f}",
             f"{e['vs_pt_ready']:.2f}x", f"{e['peak_rss_gib']:.2f}"] for e in data["summary"]]
    notes = [f"{variant}: {facts['parameters'] / 1e9:.3f} B parameters; .pt {facts['pt_bytes'] / GIB:.2f} GiB; "
             + ", ".join(f"{p} {b / GIB:.2f} GiB" for p, b in facts["converted_bytes"].items())
             + f"; conversion {facts['convert_s']:.1f} s" for variant, facts in data["bundles"].items()]
    legend = ("warm: the first guided step" + (" (*: a read of every weight: this device has no fast path for the "
              "precision)" if any(e["warm_kind"] != "step" for e in data["summary"]) else "")
              + "; medians of " + str(data["settings"]["reps"]) + " fresh processes; cold cache: the bundle evicted "
              "with posix_fadvise(DONTNEED) before each run; warm: the run's file read just before")
    return "\n".join([table(headers, rows), *notes, legend])


# ---- command line

def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def parse(argv: Sequence[str] | None = None) -> tuple[Settings, Path, str | None]:
    from benchmarks.report import RESULTS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="depth 2, one cold run per case, no pt-mmap: a CPU "
                                                             "smoke run")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--variants", type=_names, default=VARIANT_NAMES)
    parser.add_argument("--dtype", type=_names, help="target precisions, each converted (default: bf16 on a GPU; "
                                                     "fp32 and bf16 on a CPU)")
    parser.add_argument("--paths", type=_names, help="converted, pt, pt-mmap (default all; --quick: converted,pt)")
    parser.add_argument("--cache", type=_names, help="page cache states: cold, warm (default both; --quick: cold)")
    parser.add_argument("--reps", type=int, help="fresh processes per case (default 3; --quick: 1)")
    parser.add_argument("--frames", type=int, default=16, help="latent frames of the warm step (it reads every "
                                                                "weight at any length)")
    parser.add_argument("--depth", type=int, help="decoder blocks (default 16, the real DiT; --quick: 2)")
    parser.add_argument("--dim", type=int, default=2048, help="model width (2048, the real DiT's; less for tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", help="where the temporary bundles go (default: the system's temporary folder)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON (default benchmarks/results)")
    parser.add_argument("--commit", help="the git commit to record instead of asking git")
    args = parser.parse_args(argv)

    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    paths = args.paths or (("converted", "pt") if args.quick else PATHS)
    caches = args.cache or (("cold",) if args.quick else ("cold", "warm"))
    unknown = (set(args.variants) - set(VARIANT_NAMES)) | (set(paths) - set(PATHS)) | (set(caches) - {"cold", "warm"})
    if unknown or "pt" not in paths:
        parser.error(f"unknown names {sorted(unknown)}, or no pt path to compare with")
    gpu_precision = ("bf16",) if device == "cuda" and torch.cuda.is_bf16_supported() else ("fp16",)
    precisions = gpu_precision if device == "cuda" else ("fp32", "bf16")
    settings = Settings(device=device, variants=args.variants, precisions=args.dtype or precisions, paths=paths,
                        caches=caches, reps=args.reps or (1 if args.quick else 3), frames=args.frames,
                        depth=args.depth or (2 if args.quick else 16), dim=args.dim, seed=args.seed, quick=args.quick,
                        work_dir=args.work_dir)
    return settings, args.out, args.commit


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (``argv`` as on the command line); returns what it wrote to the JSON file."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        print(json.dumps(child(json.loads(args[1]))), flush=True)
        return {}
    settings, out, commit = parse(args)
    print(f"load benchmark: {', '.join(f'{k}={v}' for k, v in asdict(settings).items())}", flush=True)
    if shutil.disk_usage(settings.work_dir or tempfile.gettempdir()).free < 15 * GIB and settings.depth >= 16:
        print("warning: under 15 GiB free where the bundles go (--work-dir)", flush=True)
    data = measure(settings, out, commit)
    print("\n" + render(data) + f"\n\n{data['path']} ({data['elapsed_s']:.0f} s)", flush=True)
    return data


if __name__ == "__main__":
    main()
