"""device.py's decisions: CPU precision from the CPU's bf16 instructions, CPU threads from affinity and the cgroup
quota, whether to compile (``COMPILE``), the VAE decoder's precision and window, and rows per sampling call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from inference_container.diffrhythm import device
from inference_container.diffrhythm.device import (
    CPU_COMPILE_MIN_PARAMETERS,
    cgroup_cpu_quota,
    configure_threads,
    cpu_flags,
    cpu_has_bf16,
    cpu_threads,
    resolve_compile,
    resolve_decode,
    resolve_precision,
    rows_that_fit,
)

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("fast_bf16", "expected"), [(True, "bf16"), (False, "fp32")])
def test_cpu_auto_precision_follows_the_cpus_bf16_instructions(monkeypatch, fast_bf16, expected):
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: fast_bf16)
    assert resolve_precision("cpu") == expected
    assert resolve_precision("cpu", "fp32") == "fp32" and resolve_precision("cpu", "bf16") == "bf16"


def test_cpu_bf16_detection_agrees_with_the_processor_flags():
    """torch's capabilities and /proc/cpuinfo say the same thing on this machine, whatever it has."""
    assert cpu_has_bf16() == bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def test_cpu_bf16_detection_reads_the_flags_where_torch_cannot_tell(monkeypatch):
    monkeypatch.delattr(torch.cpu, "get_capabilities")
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2", "amx_bf16", "amx_tile"})
    assert cpu_has_bf16() is True
    monkeypatch.setattr(device, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert cpu_has_bf16() is False


def test_cpu_flags_parse_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_bf16\n")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()


def _cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(("files", "quota"), [
    ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2, 1.5 CPUs
    ({"cpu.max": "max 100000\n"}, None),  # v2, no limit
    ({"cpu/cpu.cfs_quota_us": "400000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 4.0),  # v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, no limit
    ({}, None),  # no cgroup files
])
def test_cgroup_cpu_quota(tmp_path, files, quota):
    assert cgroup_cpu_quota(_cgroup(tmp_path, files)) == quota


def test_cpu_threads_are_the_affinity_capped_by_the_quota(tmp_path):
    assert cpu_threads(_cgroup(tmp_path / "none", {})) == AFFINITY
    assert cpu_threads(_cgroup(tmp_path / "half", {"cpu.max": "50000 100000"})) == 1  # at least one
    assert cpu_threads(_cgroup(tmp_path / "many", {"cpu.max": f"{AFFINITY * 400000} 100000"})) == AFFINITY


def test_configure_threads_sets_torch_on_a_cpu_unless_omp_chose(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(device, "cpu_threads", lambda: 1)
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert configure_threads("cpu") is None
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert configure_threads("cuda") is None
        assert torch.get_num_threads() == before
        assert configure_threads("cpu") == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_compile_setting():
    assert resolve_compile("cuda") is True and resolve_compile("cuda:1") is True and resolve_compile("cpu") is False
    assert resolve_compile("cuda", "off") is False and resolve_compile("cpu", "ON") is True
    # auto on a CPU: where the DiT is large enough for its steps to repay the compile (the published 1.1 B is)
    assert resolve_compile("cpu", "auto", CPU_COMPILE_MIN_PARAMETERS) is True
    assert resolve_compile("cpu", "auto", CPU_COMPILE_MIN_PARAMETERS - 1) is False
    assert resolve_compile("cpu", "off", 1_109_000_000) is False and resolve_compile("cuda", "auto", 10) is True
    with pytest.raises(ValueError, match="COMPILE"):
        resolve_compile("cuda", "sometimes")


def test_decode_settings():
    assert resolve_decode("cuda:0") == ("fp16", None) and resolve_decode("cpu") == ("fp32", 128)
    assert resolve_decode("cuda", "bf16", 512) == ("bf16", 512) and resolve_decode("cpu", "fp16") == ("fp16", 128)
    with pytest.raises(ValueError, match="VAE_DTYPE"):
        resolve_decode("cuda", "half")
    with pytest.raises(ValueError, match="VAE_CHUNK"):
        resolve_decode("cuda", "auto", -1)


GIB = 2**30


@pytest.mark.parametrize(("free", "row", "cap", "rows"), [
    (60 * GIB, 1 * GIB, 8, 8),  # room for more than the cap
    (20 * GIB, 1 * GIB, 8, 8),  # (20 - 2.4) / 1.25 = 14
    (10 * GIB, 1 * GIB, 8, 6),  # (10 - 2.4) / 1.25 = 6.08
    (3 * GIB, 1 * GIB, 8, 1),  # not even one with the margin: still one (the cap on a full GPU is the OOM retry)
    (10 * GIB, 0, 4, 4),
])
def test_rows_follow_the_free_memory_less_a_reserve_and_a_margin(free, row, cap, rows):
    assert rows_that_fit(free, row, cap, total_bytes=24 * GIB) == rows
