"""Every benchmark, one after the other, each printing its tables and writing its JSON (a thin orchestrator).

    python benchmarks/run.py [--quick] [--only model,roofline,presets,load,service,stems,lyrics_check,cost] [--out DIR]
        [--commit SHA]
    python -m benchmarks.run --quick          # the CPU smoke run: minutes on two cores

Runs ``benchmarks.model``, ``benchmarks.roofline``, ``benchmarks.presets``, ``benchmarks.load``, ``benchmarks.service``,
``benchmarks.stems``, ``benchmarks.lyrics_check`` (``--quick`` passed on to each) and then ``benchmarks.cost`` (which
prices the newest full-size GPU model run in ``benchmarks/results/``, not a quick CPU run).
A benchmark that fails is reported and the next one runs; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python benchmarks/run.py): make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCHMARKS = ("model", "roofline", "presets", "load", "service", "stems", "lyrics_check", "cost")
_QUICK = {"model", "roofline", "presets", "load", "service", "stems", "lyrics_check"}  # those with a --quick


def arguments(name: str, quick: bool, out: Path | None, commit: str | None) -> list[str]:
    """The command line one benchmark gets.

    >>> arguments("model", True, None, "abc")
    ['--quick', '--commit', 'abc']
    >>> arguments("cost", True, Path("/tmp/r"), None)
    ['--out', '/tmp/r']
    """
    return ([*(["--quick"] if quick and name in _QUICK else []), *(["--out", str(out)] if out else []),
             *(["--commit", commit] if commit else [])])


def run_one(name: str, argv: list[str]) -> str:
    """Run ``benchmarks.<name>.main(argv)``; ``ok``, ``failed`` or ``missing`` (no such module yet)."""
    try:
        module = importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"benchmarks.{name}":
            traceback.print_exc()
            return "failed"
        print(f"benchmarks/{name}.py is not there yet: skipped", flush=True)
        return "missing"
    try:
        module.main(argv)
    except (Exception, SystemExit):  # SystemExit: its argument parser refused the arguments
        traceback.print_exc()
        return "failed"
    return "ok"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark's smoke run (a 2-core CPU: minutes)")
    parser.add_argument("--only", type=lambda text: [v.strip() for v in text.split(",") if v.strip()],
                        default=list(BENCHMARKS), help=f"a comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, help="folder for the JSON files (default: each one's, benchmarks/results)")
    parser.add_argument("--commit", help="the git commit to record instead of asking git")
    args = parser.parse_args(argv)
    if unknown := [name for name in args.only if name not in BENCHMARKS]:
        parser.error(f"unknown benchmarks: {', '.join(unknown)}")

    started, outcomes = time.perf_counter(), []
    for name in (n for n in BENCHMARKS if n in args.only):
        command = arguments(name, args.quick, args.out, args.commit)
        print(f"\n{'=' * 24} python -m benchmarks.{name} {' '.join(command)}", flush=True)
        begun = time.perf_counter()
        outcomes.append((name, run_one(name, command), time.perf_counter() - begun))

    print(f"\n{'=' * 24} done in {time.perf_counter() - started:.0f} s", flush=True)
    for name, outcome, seconds in outcomes:
        print(f"{name:12} {outcome:8} {seconds:6.0f} s", flush=True)
    return 1 if any(outcome == "failed" for _, outcome, _ in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
