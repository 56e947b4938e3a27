"""The model's subcommands of ``diffrhythm``. torch is imported only when one of them runs."""

from __future__ import annotations

import argparse


def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _verify_checkpoint(args: argparse.Namespace) -> int:
    from inference_container.diffrhythm.golden import verify_folder

    report = verify_folder(args.golden_dir, dtype=args.dtype, device=_device(args.device))
    for name, error in report.errors.items():
        limit = report.tolerances[name]
        print(f"{name:<10} max |error| = {error:.3e}   tolerance {limit:.3e}   {'ok' if error <= limit else 'FAIL'}")
    print("PASS" if report.passed else "FAIL", f"({args.dtype}, {args.golden_dir})")
    return 0 if report.passed else 1


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the model subcommands on the ``diffrhythm`` parser."""
    verify = commands.add_parser("verify-checkpoint", help="check the model against a folder of golden vectors")
    verify.add_argument("golden_dir", help="folder with config.json, meta.json, cfm_model.pt, vectors.safetensors")
    verify.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32")
    verify.add_argument("--device", default="auto", help="cpu, cuda or auto")
    verify.set_defaults(run=_verify_checkpoint)
