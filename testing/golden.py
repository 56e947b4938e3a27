"""Check the model against a folder of golden vectors (format: ``../shared/golden/README.md``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from inference_container.diffrhythm.checkpoint import load_dit
from inference_container.diffrhythm.config import DiTConfig
from inference_container.diffrhythm.guidance import Inpainting
from inference_container.diffrhythm.sampling import sample

#: fp32: the largest absolute error the golden README accepts. Half precisions: a fraction of the reference's
#: largest magnitude (measured on the dit-95s folder: fp16 0.1 % / 0.07 %, bf16 0.8 % / 0.6 % for velocities / sample).
ABSOLUTE_FP32 = {"v_cond": 1e-4, "v_uncond": 1e-4, "sample_out": 1e-3}
RELATIVE = {"fp16": 0.01, "bf16": 0.03}


@dataclass(frozen=True)
class GoldenReport:
    """Largest absolute error of each output, and whether all are within tolerance."""

    errors: dict[str, float]
    tolerances: dict[str, float]

    @property
    def passed(self) -> bool:
        return all(self.errors[name] <= limit for name, limit in self.tolerances.items())


@torch.inference_mode()
def verify_folder(folder: str | Path, dtype: str = "fp32", device: str = "cpu") -> GoldenReport:
    """Load the folder's checkpoint with this project's model and recompute its outputs."""
    from safetensors.torch import load_file

    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    config = DiTConfig.from_json(folder / "config.json", max_frames=int(meta["max_frames"]))
    model = load_dit(folder / "cfm_model.pt", config, dtype=dtype, device=device)
    v = {name: tensor.to(device) for name, tensor in load_file(str(folder / "vectors.safetensors")).items()}
    n = int(meta["n_frames"])
    cond = v["cond"][:, :n]  # the DiT calls see it exactly as stored; only sampling applies the edit mask
    duration = v["duration"] if config.has_duration else None

    def call(text: torch.Tensor, latent: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        prepared = model.prepare(text, v["start_time"], duration)
        return model(v["x"].to(model.dtype), latent.to(model.dtype), style.to(model.dtype), v["t"], prepared).float()

    edit = Inpainting.segments(cond, meta["edit_segments_frames"])
    outputs = {
        "v_cond": call(v["text"], cond, v["style"]),
        "v_uncond": call(torch.zeros_like(v["text"]), torch.zeros_like(cond), v["negative_style"]),
        "sample_out": sample(model, edit, v["sample_y0"], text=v["text"], style=v["style"],
                             negative_style=v["negative_style"], start_time=v["start_time"], duration=duration,
                             steps=int(meta["steps"]), cfg_strength=float(meta["cfg_strength"])),
    }
    errors = {name: float((value - v[name].float()).abs().max()) for name, value in outputs.items()}
    if dtype == "fp32":
        return GoldenReport(errors, dict(ABSOLUTE_FP32))
    limits = {name: RELATIVE[dtype] * float(v[name].abs().max()) for name in outputs}
    return GoldenReport(errors, limits)
