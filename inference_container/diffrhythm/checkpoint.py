"""Load a DiffRhythm CFM checkpoint strictly, from ``.pt`` (``{"model_state_dict": ...}``) or ``.safetensors``; convert
one to safetensors in a precision; load a bundle's variant from its converted file where it can (else the ``.pt``)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from inference_container.diffrhythm.bundle.reader import Bundle
from inference_container.diffrhythm.config import DiTConfig
from inference_container.diffrhythm.device import torch_dtype
from inference_container.diffrhythm.model import DiT
from inference_container.errors import ModelError
from shared.timeline import VARIANTS

PREFIX = "transformer."
log = logging.getLogger(__name__)


class CheckpointError(ModelError):
    """The file is not a DiffRhythm CFM checkpoint that matches the configuration."""


def read_state_dict(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The CFM state dict in ``path`` (keys keep their ``transformer.`` prefix).

    A ``.safetensors`` file is memory-mapped and its tensors are created on ``device`` (on a CPU they stay backed
    by the mapping: pages are read when first used; the kernel is asked to read the whole file ahead meanwhile);
    a ``.pt`` is read whole into CPU memory.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        _read_ahead(path)
        return load_file(str(path), device=str(torch.device(device)))
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(loaded, dict) and "model_state_dict" in loaded:
        loaded = loaded["model_state_dict"]
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{path}: expected a state dict or {{'model_state_dict': ...}}")
    return loaded


def _read_ahead(path: Path) -> None:
    """Ask the kernel to start reading ``path`` into the page cache now (a hint: with a cold cache, the memory
    map's page faults then find most pages read at the disk's full rate, not 128 KiB at a time)."""
    if hasattr(os, "posix_fadvise"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)


def load_dit(path: str | Path, config: DiTConfig, dtype: str | torch.dtype = "fp32",
             device: str | torch.device = "cpu") -> DiT:
    """Build the DiT for ``config`` and load ``path`` into it strictly (every key present, none extra), e.g.
    ``load_dit(bundle.dit("95s"), DiTConfig.from_json(bundle.dit_config, SHORT.max_frames), dtype="bf16")``.

    The module is built with its initialisers skipped (its tensors are allocated but never written, so no memory is
    touched) and takes the file's tensors as they are (``assign``): no second copy of the weights is made unless a
    cast or a move to ``device`` needs one.
    """
    state = read_state_dict(path, device if Path(path).suffix == ".safetensors" else "cpu")
    model = _assign(state, config, path)
    return model.to(device=device, dtype=torch_dtype(dtype)).eval().requires_grad_(False)


def _assign(state: dict[str, torch.Tensor], config: DiTConfig, path: str | Path) -> DiT:
    """A DiT for ``config`` holding ``state``'s tensors (strictly: every key present, none extra, shapes equal)."""
    foreign = sorted(k for k in state if not k.startswith(PREFIX))
    if foreign:
        raise CheckpointError(f"{path}: keys outside {PREFIX!r}: {foreign[:5]}")
    with _no_init():  # not on the meta device: computing the buffers there would import torch._dynamo (seconds)
        model = DiT(config)
    try:
        model.load_state_dict({k[len(PREFIX):]: v for k, v in state.items()}, strict=True, assign=True)
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not match the configuration: {error}") from error
    return model


_INITIALISERS = ("normal_", "uniform_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
                 "xavier_normal_", "constant_", "ones_", "zeros_")


@contextmanager
def _no_init() -> Iterator[None]:
    """``torch.nn.init``'s initialisers leave tensors as they are while a model to load is built: the checkpoint's
    tensors replace them, so writing random values first would only touch (and fill) memory that is freed at once.
    Loading is single-threaded, so the module attributes are swapped only for that time."""
    saved = {name: getattr(torch.nn.init, name) for name in _INITIALISERS}
    try:
        for name in saved:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, initialiser in saved.items():
            setattr(torch.nn.init, name, initialiser)


def convert_checkpoint(source: str | Path, targets: dict[str, Path], config: DiTConfig,
                       metadata: dict[str, str]) -> None:
    """Write ``source``'s state dict (its keys, checked strictly against ``config``) as safetensors to each of
    ``targets`` (precision -> path), floating-point tensors cast to that precision exactly as ``load_dit`` casts
    them, with ``metadata`` and the precision in the file's metadata. ``source`` is read once."""
    from safetensors.torch import save_file

    state = read_state_dict(source)
    _assign(state, config, source)  # refuses a checkpoint that would not load (the tensors are shared, not copied)
    for precision, target in targets.items():
        dtype = torch_dtype(precision)
        cast = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
        partial = target.with_name(target.name + ".partial")
        save_file(cast, str(partial), metadata={"format": "pt", **metadata, "precision": precision})
        partial.replace(target)
        del cast


def load_variant(bundle: Bundle, variant: str, precision: str, device: str | torch.device = "cpu",
                 converted: bool = True) -> tuple[DiT, Path]:
    """``variant``'s DiT from ``bundle`` in ``precision`` on ``device``, and the file it came from: the converted
    file ``Bundle.dit_choice`` picks (unless ``converted`` is False), else the published ``.pt``. A converted file
    that is refused or fails to load is logged (a warning: loading falls back to the slower ``.pt``)."""
    config = DiTConfig.from_json(bundle.dit_config, max_frames=VARIANTS[variant].max_frames)
    published, started = bundle.dit(variant), time.perf_counter()
    model, path = None, published
    if converted:
        choice = bundle.dit_choice(variant, precision)
        for reason in choice.refused:
            log.warning("%s; loading the published %s instead", reason, published.name)
        if choice.converted:
            from safetensors import SafetensorError

            try:
                model, path = load_dit(choice.path, config, dtype=precision, device=device), choice.path
            except (CheckpointError, SafetensorError, OSError) as error:
                log.warning("%s: %s; loading the published %s instead", choice.path, error, published.name)
    if model is None:
        model, path = load_dit(published, config, dtype=precision, device=device), published
    log.info("%s DiT (%s, %s) from %s in %.1f s", variant, precision, device, path, time.perf_counter() - started)
    return model, path
