"""``benchmarks.model``'s options added for the CPU decode and float8, and the allocator each benchmark records."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.model import FLOAT8_PATHS, parse
from benchmarks.report import ROOT, allocator


def test_decode_windows_and_the_default_variants_follow_the_options_and_the_device():
    settings, _, _ = parse(["--device", "cpu", "--decode-windows", "128"])
    assert settings.decode_windows == (128,)
    assert parse(["--device", "cpu"])[0].decode_windows == (None, 128)
    assert not set(FLOAT8_PATHS) & set(settings.variants)  # a CPU has no float8 tensor cores
    assert parse(["--device", "cpu", "--variants", "ours-fp8"])[0].variants == ("ours-fp8",)  # asked: anywhere


@pytest.mark.slow
def test_each_benchmark_records_the_allocator_it_runs_on():
    assert allocator() == ("tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "libc")
    (library,) = Path("/usr/lib").glob("*-linux-gnu/libtcmalloc_minimal.so.4")  # make system-deps installs it
    snippet = "from benchmarks.report import allocator; print(allocator())"
    preloaded = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, check=True,
                               env={**os.environ, "LD_PRELOAD": str(library), "PYTHONPATH": str(ROOT)})
    assert preloaded.stdout.strip() == "tcmalloc"
