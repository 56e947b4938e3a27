"""The test commands: ``make-test-weights`` (a TINY RANDOM bundle) and ``verify-checkpoint`` (the golden vectors).
They are registered on ``python -m testing`` and on the development ``diffrhythm`` command; the worker image has
neither. torch is imported only when a command runs."""

from __future__ import annotations

import argparse

from inference_container.diffrhythm.device import PRECISIONS
from shared.timeline import VARIANTS


def _make_test_weights(args: argparse.Namespace) -> int:
    from testing.tiny import TINY_LABEL, make_test_weights

    make_test_weights(args.directory, tuple(args.variants))
    print(f"wrote a {TINY_LABEL} bundle to {args.directory}")
    return 0


def _verify_checkpoint(args: argparse.Namespace) -> int:
    from inference_container.diffrhythm.device import resolve_device
    from testing.golden import verify_folder

    report = verify_folder(args.golden_dir, dtype=args.dtype, device=resolve_device(args.device))
    for name, error in report.errors.items():
        limit = report.tolerances[name]
        print(f"{name:<10} max |error| = {error:.3e}   tolerance {limit:.3e}   {'ok' if error <= limit else 'FAIL'}")
    print("PASS" if report.passed else "FAIL", f"({args.dtype}, {args.golden_dir})")
    return 0 if report.passed else 1


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the test commands on a parser's subcommands."""
    tiny = commands.add_parser("make-test-weights", help="write a TINY RANDOM bundle (not a real model)")
    tiny.add_argument("directory")
    tiny.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    tiny.set_defaults(run=_make_test_weights)

    verify = commands.add_parser("verify-checkpoint", help="check the model against a folder of golden vectors")
    verify.add_argument("golden_dir", help="folder with config.json, meta.json, cfm_model.pt, vectors.safetensors")
    verify.add_argument("--dtype", choices=PRECISIONS[1:], default="fp32")
    verify.add_argument("--device", default="auto", help="cpu, cuda or auto")
    verify.set_defaults(run=_verify_checkpoint)


def main(argv: list[str] | None = None) -> int:
    """``python -m testing make-test-weights DIR`` or ``python -m testing verify-checkpoint FOLDER``."""
    parser = argparse.ArgumentParser(prog="python -m testing", description="test models and checks (not shipped)")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result
