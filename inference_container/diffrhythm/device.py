"""The one place that decides where the models run and in which precision. Importing it does not import torch."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

Precision = Literal["fp32", "fp16", "bf16"]
_TORCH_NAMES: dict[str, str] = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
PRECISIONS: tuple[str, ...] = ("auto", *_TORCH_NAMES)  # what ``--dtype`` and ``DTYPE`` accept


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
    """``auto`` -> bf16 on a GPU that has it, else fp16 on a GPU, fp32 on a CPU; an explicit choice is kept.

    Example
    -------
    >>> resolve_precision("cpu"), resolve_precision("cpu", "bf16")
    ('fp32', 'bf16')
    """
    import torch

    if precision != "auto":
        if precision not in _TORCH_NAMES:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        return precision  # type: ignore[return-value]
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


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
