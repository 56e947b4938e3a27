"""What every benchmark writes: the machine and code it ran on, a plain-text table, and a JSON file in ``results/``."""

from __future__ import annotations

import datetime as dt
import json
import platform
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from inference_container.diffrhythm.device import cpu_has_bf16

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent


def git_commit(given: str | None = None) -> dict[str, Any]:
    """The checkout's commit and whether tracked files differ from it, or ``given`` where the caller knows better (a
    copy of the working tree on another machine may hold no ``.git``, or a stale one)."""
    if given:
        return {"commit": given, "dirty": None}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def environment(device: torch.device, commit: str | None = None) -> dict[str, Any]:
    """Device name, torch and Python versions, CPU threads, the memory allocator, git commit and the date (UTC)."""
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device": device.type,
        "device_name": device_name(device),
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "cpu_bf16": cpu_has_bf16(),
        "allocator": allocator(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "git": git_commit(commit),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info |= {"cuda": torch.version.cuda, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                 "capability": f"{props.major}.{props.minor}",
                 "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32}
    return info


def allocator() -> str:
    """The allocator this process runs on: ``tcmalloc`` or ``jemalloc`` where preloaded (the CPU worker image
    preloads tcmalloc: ``inference_container/entrypoint.sh``), else ``libc``."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "unknown"
    return next((name for name in ("tcmalloc", "jemalloc") if name in maps), "libc")


def device_name(device: torch.device) -> str:
    """``NVIDIA H100 80GB HBM3`` on a GPU; the processor's name (or ``cpu``) on a CPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def result_path(out: Path, benchmark: str, device: torch.device, suffix: str = "") -> Path:
    """``<out>/<benchmark>-<device>-<date>[-suffix].json``, e.g. ``model-cuda-nvidia-h200-2026-11-26.json``."""
    slug = "cpu" if device.type == "cpu" else "cuda-" + re.sub(r"[^a-z0-9]+", "-", device_name(device).lower())
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    return out / f"{benchmark}-{slug.strip('-')}-{date}{'-' + suffix if suffix else ''}.json"


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` (indented, keys in insertion order), replacing the file in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(data, indent=1) + "\n")
    partial.replace(path)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table (Markdown-compatible), columns padded to their widest cell."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)
