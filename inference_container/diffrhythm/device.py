"""The one place that decides where the models run, in which precision, on how many CPU threads and whether the
DiT is compiled. Importing it does not import torch."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

Precision = Literal["fp32", "fp16", "bf16"]
_TORCH_NAMES: dict[str, str] = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
PRECISIONS: tuple[str, ...] = ("auto", *_TORCH_NAMES)  # what ``--dtype`` and ``DTYPE`` accept
COMPILE_SETTINGS: tuple[str, ...] = ("auto", "on", "off")  # what ``COMPILE`` accepts
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # CPU instructions that make bf16 matrix products fast


def resolve_device(name: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is available, else ``cpu``; any other name is kept.

    Example
    -------
    >>> resolve_device("cpu")
    'cpu'
    """
    import torch

    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_precision(device: str, precision: str = "auto") -> Precision:
    """``auto`` -> bf16 on a GPU that has it, else fp16 on a GPU; on a CPU bf16 where it computes bf16 natively
    (AVX512-BF16 or AMX, ``cpu_has_bf16``), else fp32. An explicit choice is kept.

    Example
    -------
    >>> resolve_precision("cpu", "bf16"), resolve_precision("cpu") == ("bf16" if cpu_has_bf16() else "fp32")
    ('bf16', True)
    """
    import torch

    if precision != "auto":
        if precision not in _TORCH_NAMES:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        return precision  # type: ignore[return-value]
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX-BF16). Without, torch's bf16 matrix products and
    grouped convolutions take slow paths, many times slower than fp32 (96 s against 2.2 s for a step on an AVX2 CPU).

    Asks torch (``torch.cpu.get_capabilities``, torch >= 2.9), else reads ``/proc/cpuinfo``'s flags.
    """
    import torch

    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is not None:
        found = capabilities()
        return any(bool(found.get(flag, False)) for flag in _BF16_FLAGS)
    return bool(cpu_flags() & _BF16_FLAGS)


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The processor's feature flags (empty where ``cpuinfo`` cannot be read)."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_threads(cgroup: str | Path = "/sys/fs/cgroup") -> int:
    """The CPUs this process may use: its affinity, capped by the container's CPU quota (cgroup v2 ``cpu.max`` or
    v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), rounded down, at least 1. Torch's own default counts the
    host's cores, which oversubscribes a container limited to fewer."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup)
    return max(1, min(available, math.floor(quota)) if quota is not None else available)


def cgroup_cpu_quota(cgroup: str | Path = "/sys/fs/cgroup") -> float | None:
    """CPUs' worth of time the container may use per period, or ``None`` (no limit, or no cgroup files)."""
    root = Path(cgroup)
    try:
        fields = (root / "cpu.max").read_text().split()
        if fields and fields[0] != "max":
            return int(fields[0]) / int(fields[1] if len(fields) > 1 else 100_000)
        if fields:
            return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def configure_threads(device: str) -> int | None:
    """On a CPU, run torch on ``cpu_threads()`` threads unless ``OMP_NUM_THREADS`` chose; returns the number set."""
    import torch

    if not device.startswith("cpu") or os.environ.get("OMP_NUM_THREADS"):
        return None
    threads = cpu_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


CPU_COMPILE_MIN_PARAMETERS = 100_000_000  # COMPILE=auto compiles a CPU's DiT from this size (published: 1.1 B)


def resolve_compile(device: str, setting: str = "auto", parameters: int = 0) -> bool:
    """Whether to ``torch.compile`` the DiT of ``parameters`` parameters: ``setting`` (the worker's ``COMPILE``) is
    ``on``, ``off`` or ``auto`` = where it pays for itself. On CUDA always (sampling 1.32-1.43x faster in bf16 on an
    H200, after a 13 s compile on the first song). On a CPU for a DiT of at least ``CPU_COMPILE_MIN_PARAMETERS``: at
    full size a song samples 1.05x faster in bf16 and 1.26x in fp32 (AVX512-BF16, 2 cores), after a 33-90 s compile
    once per worker process, which the first song's 31 guided steps of 30-70 s each repay; a small model's step takes
    milliseconds and would never repay it (benchmarks/README.md).

    Example
    -------
    >>> resolve_compile("cpu"), resolve_compile("cpu", parameters=1_109_000_000), resolve_compile("cuda")
    (False, True, True)
    >>> resolve_compile("cpu", "on"), resolve_compile("cuda", "off", parameters=1_109_000_000)
    (True, False)
    """
    choice = setting.strip().lower()
    if choice not in COMPILE_SETTINGS:
        raise ValueError(f"COMPILE must be one of {', '.join(COMPILE_SETTINGS)}, got {choice!r}")
    if choice != "auto":
        return choice == "on"
    return device.startswith("cuda") or parameters >= CPU_COMPILE_MIN_PARAMETERS


def resolve_decode(device: str, precision: str = "auto", chunk: int = 0) -> tuple[Precision, int | None]:
    """The VAE decoder's precision and window (the worker's ``VAE_DTYPE`` and ``VAE_CHUNK``): ``auto`` = fp16 on a GPU
    (a stand-in of the real decoder's size decodes 1.5x faster than in fp32 on an H200; ``vae.VAE.load`` keeps it
    only within ``vae.HALF_TOLERANCE`` of fp32 on the real weights), fp32 on a CPU; chunk ``0`` = the whole latent
    at once on a GPU, smaller only after running out of memory (``None``), 128 frames on a CPU.

    Example
    -------
    >>> resolve_decode("cpu"), resolve_decode("cuda"), resolve_decode("cuda", "fp32", 256)
    (('fp32', 128), ('fp16', None), ('fp32', 256))
    """
    gpu = device.startswith("cuda")
    if precision == "auto":
        chosen: Precision = "fp16" if gpu else "fp32"
    elif precision in _TORCH_NAMES:
        chosen = precision  # type: ignore[assignment]
    else:
        raise ValueError(f"VAE_DTYPE must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if chunk < 0:
        raise ValueError(f"VAE_CHUNK must be 0 (auto) or a number of frames, got {chunk}")
    return chosen, (None if gpu else 128) if chunk == 0 else chunk


def rows_that_fit(free_bytes: int, row_bytes: int, cap: int, margin: float = 1.25, reserve: float = 0.1,
                  total_bytes: int = 0) -> int:
    """How many latent rows (songs) one sampling call may hold: ``free_bytes`` of GPU memory, less ``reserve`` of
    ``total_bytes`` (other allocations, fragmentation), over ``row_bytes`` (a row's measured peak) times ``margin``;
    at least 1, at most ``cap`` (``MAX_ROWS``).

    Example
    -------
    >>> gib = 2 ** 30
    >>> rows_that_fit(20 * gib, gib, cap=8, total_bytes=24 * gib), rows_that_fit(4 * gib, gib, 8, total_bytes=24 * gib)
    (8, 1)
    """
    usable = free_bytes - reserve * total_bytes
    return max(1, min(cap, int(usable // max(1.0, row_bytes * margin))))


def torch_dtype(precision: str | torch.dtype) -> torch.dtype:
    """A precision name (``fp32``, ``fp16``, ``bf16``) or a dtype -> the dtype.

    Example
    -------
    >>> torch_dtype("bf16")
    torch.bfloat16
    """
    import torch

    if isinstance(precision, torch.dtype):
        return precision
    dtype: torch.dtype = getattr(torch, _TORCH_NAMES[precision])
    return dtype


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work (so timings measure it); a no-op on the CPU."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
