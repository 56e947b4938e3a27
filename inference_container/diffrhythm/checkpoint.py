"""Load a DiffRhythm CFM checkpoint strictly, from ``.pt`` (``{"model_state_dict": ...}``) or ``.safetensors``."""

from __future__ import annotations

from pathlib import Path

import torch

from inference_container.diffrhythm.config import DiTConfig
from inference_container.diffrhythm.device import torch_dtype
from inference_container.diffrhythm.model import DiT

PREFIX = "transformer."


class CheckpointError(ValueError):
    """The file is not a DiffRhythm CFM checkpoint that matches the configuration."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The CFM state dict in ``path`` (keys keep their ``transformer.`` prefix)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(loaded, dict) and "model_state_dict" in loaded:
        loaded = loaded["model_state_dict"]
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{path}: expected a state dict or {{'model_state_dict': ...}}")
    return loaded


def load_dit(path: str | Path, config: DiTConfig, dtype: str | torch.dtype = "fp32",
             device: str | torch.device = "cpu") -> DiT:
    """Build the DiT for ``config`` and load ``path`` into it strictly (every key present, none extra), e.g.
    ``load_dit(bundle.dit("95s"), DiTConfig.from_json(bundle.dit_config, SHORT.max_frames), dtype="bf16")``.
    """
    state = read_state_dict(path)
    foreign = sorted(k for k in state if not k.startswith(PREFIX))
    if foreign:
        raise CheckpointError(f"{path}: keys outside {PREFIX!r}: {foreign[:5]}")
    with torch.device("meta"):
        model = DiT(config)
    try:
        model.load_state_dict({k[len(PREFIX):]: v for k, v in state.items()}, strict=True, assign=True)
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not match the configuration: {error}") from error
    model = _materialise_buffers(model, config)
    return model.to(device=device, dtype=torch_dtype(dtype)).eval().requires_grad_(False)


def _materialise_buffers(model: DiT, config: DiTConfig) -> DiT:
    """Non-persistent buffers were created on the meta device: rebuild them from a real (tiny) module."""
    real = {}
    fresh_text = type(model.text_embed)(1, config.text_dim, config.max_frames, 0)
    real["text_embed.positions"] = fresh_text.positions
    fresh_rotary = type(model.rotary)(config.dim // config.attention_heads, config.rope_theta)
    real["rotary.inv_freq"] = fresh_rotary.inv_freq
    for name, tensor in real.items():
        module_name, buffer_name = name.rsplit(".", 1)
        model.get_submodule(module_name).register_buffer(buffer_name, tensor, persistent=False)
    return model
