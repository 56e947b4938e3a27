"""The arithmetic of the benchmark scripts: percentiles, a job's intervals, cost per song, which model run is priced,
and the orchestrator's command lines (the scripts themselves are run by hand, not by the tests)."""

from __future__ import annotations

import doctest
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks import cost, run, service


@pytest.mark.parametrize("module", [cost, service, run])
def test_the_doctests_of_the_benchmark_helpers_pass(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def test_percentiles_interpolate_between_ranks():
    values = [0.5, 0.1, 0.4, 0.2, 0.3]
    assert service.percentile(values, 0) == 0.1 and service.percentile(values, 100) == 0.5
    assert service.percentile(values, 50) == 0.3
    assert service.percentile(values, 90) == pytest.approx(0.46)
    with pytest.raises(ValueError):
        service.percentile([], 50)


def test_a_job_claimed_before_its_202_arrives_has_a_negative_interval_from_the_202_only():
    at = lambda s: datetime.fromtimestamp(s, UTC)  # noqa: E731
    row = service.job_timeline("j", "completed", sent=10.0, accepted=10.5, enqueued=at(10.3), started=at(10.4),
                               manifest_put=20.0, completed=at(20.2))
    assert row["accepted_to_start_s"] == pytest.approx(-0.1)
    assert row["submit_to_start_s"] == pytest.approx(0.4) and row["enqueued_to_start_s"] == pytest.approx(0.1)
    assert row["overhead_s"] == pytest.approx(0.6) and row["start_to_upload_s"] == pytest.approx(9.6)


def test_a_job_without_a_manifest_put_has_no_upload_interval_and_no_overhead():
    row = service.job_timeline("j", "failed", 1.0, 1.1, None, None, None, None)
    assert row["upload_to_completed_s"] is None and row["overhead_s"] is None and row["enqueued_to_start_s"] is None


def test_heaviest_imports_sum_each_packages_own_time():
    text = "\n".join(["import time: self [us] | cumulative | imported package",
                      "import time:       200 |        200 |     botocore.model",
                      "import time:       300 |        500 |   botocore",
                      "import time:      1500 |       1500 |   fastapi",
                      "import time:        10 |       2010 | functions.api.app"])
    assert service.heaviest_imports(text, top=2) == [("fastapi", 1.5), ("botocore", 0.5)]


def _model_run(path: Path, device: str, name: str, date: str, quick: bool = False, decode: bool = True) -> Path:
    rows = [row for row in [
        {"stage": "decode", "frames": 2048, "batch": 1, "path": "vae-128", "precision": "fp32", "median_s": 0.3},
        {"stage": "decode", "frames": 2048, "batch": 1, "path": "vae-whole", "precision": "fp16", "median_s": 0.2},
        {"stage": "decode", "frames": 2048, "batch": 1, "path": "ours", "precision": "fp16", "median_s": 0.25},
        {"stage": "sampling", "frames": 2048, "batch": 1, "path": "reference", "precision": "fp16", "median_s": 1.0},
        {"stage": "sampling", "frames": 2048, "batch": 1, "path": "ours", "precision": "bf16", "median_s": 0.9},
        {"stage": "sampling", "frames": 2048, "batch": 4, "path": "ours", "precision": "bf16", "median_s": 3.0},
        {"stage": "sampling", "frames": 6144, "batch": 1, "path": "ours", "precision": "bf16", "median_s": 3.0},
        {"stage": "sampling", "frames": 2048, "batch": 1, "path": "ours-compiled-fused", "precision": "bf16",
         "median_s": 0.1},
        {"stage": "sampling", "frames": 2048, "batch": 8, "path": "ours", "precision": "bf16", "skipped": "budget"},
    ] if decode or row["stage"] != "decode"]
    path.write_text(json.dumps({
        "environment": {"date": date, "device": device, "device_name": name, "torch": "2.11", "git": {"commit": "c"}},
        "settings": {"quick": quick, "steps": 32, "cfg_strength": 4.0}, "rows": rows}))
    return path


def test_songs_add_the_workers_default_decode_per_row_and_skip_rows_without_a_timing_or_a_decode(tmp_path):
    data = json.loads(_model_run(tmp_path / "m.json", "cuda", "NVIDIA H100 80GB HBM3", "2026-01-01").read_text())
    songs = cost.song_rows(data)  # on CUDA the worker decodes the whole latent in fp16
    assert [(s["frames"], s["batch"], s["path"]) for s in songs] == [
        (2048, 1, "reference"), (2048, 1, "ours"), (2048, 4, "ours"), (2048, 1, "ours-compiled-fused")]  # 6144: none
    assert songs[2]["per_song_s"] == pytest.approx((3.0 + 0.2 * 4) / 4) and songs[2]["decode"] == "fp16 whole"
    assert songs[2]["songs_per_gpu_hour"] == pytest.approx(3600 / 0.95, abs=0.1)
    assert cost.song_rows(data, "fp32", "128")[2]["per_song_s"] == pytest.approx((3.0 + 0.3 * 4) / 4)
    assert cost.song_rows(data, "fp16", "128")[2]["per_song_s"] == pytest.approx((3.0 + 0.25 * 4) / 4)  # older runs
    assert cost.best(songs, 2048) == songs[2] and cost.best(songs, 6144) is None  # fused is not what the worker runs


def test_other_gpus_are_estimates_scaled_by_their_peaks_and_the_measured_gpu_is_not():
    short = {"per_song_s": 1.0}
    prices = {r["instance"]: r for r in cost.price_rows(short, None, "H100")}
    p5, g6 = prices["p5 (per GPU)"], prices["g6.xlarge"]
    assert not p5["estimate"] and p5["dollars_95s_on_demand"] == pytest.approx(55.04 / 8 / 3600)
    assert g6["estimate"] and g6["relative_speed"] == pytest.approx(121 / 989, abs=1e-4)
    assert g6["dollars_95s_on_demand"] == pytest.approx(0.8048 / 3600 / (121 / 989))
    assert g6["songs_per_gpu_hour_95s"] == pytest.approx(3600 * 121 / 989, abs=0.1)
    assert "dollars_285s_on_demand" not in g6  # no 285 s row measured
    assert all("dollars_95s_on_demand" not in r for r in cost.price_rows(short, None, None))  # a CPU run


def test_goals_compare_the_figures_with_the_stated_limits():
    short = {"per_song_s": 0.5}  # 7,200 songs per hour
    checks = cost.goals(short, cost.price_rows(short, None, "H200"), "H200")
    assert checks[">= 7,000 95 s songs per GPU-hour (H200)"].endswith(": met")
    assert all(v.endswith("NOT met") for k, v in checks.items() if "g5." in k)  # $1.006/h x 0.5 s / 0.071


def test_the_newest_full_size_gpu_run_is_priced_before_any_newer_cpu_or_quick_run(tmp_path):
    gpu = _model_run(tmp_path / "model-cuda-a.json", "cuda", "NVIDIA H200", "2026-01-01T00:00:00Z")
    _model_run(tmp_path / "model-cuda-b.json", "cuda", "NVIDIA H200", "2025-12-01T00:00:00Z")
    _model_run(tmp_path / "model-cuda-q.json", "cuda", "NVIDIA H200", "2026-03-01T00:00:00Z", quick=True)
    _model_run(tmp_path / "model-cpu.json", "cpu", "AMD EPYC", "2026-02-01T00:00:00Z")
    _model_run(tmp_path / "model-cuda-c.json", "cuda", "NVIDIA H200", "2026-04-01T00:00:00Z", decode=False)  # no songs
    assert cost.newest_model_json(tmp_path) == gpu
    for path in tmp_path.glob("model-cuda-*.json"):
        path.unlink()
    assert cost.newest_model_json(tmp_path).name == "model-cpu.json"  # no GPU run: the newest of any
    with pytest.raises(FileNotFoundError):
        cost.newest_model_json(tmp_path / "empty")


def test_the_orchestrator_passes_quick_only_to_the_benchmarks_that_have_it():
    assert run.arguments("service", True, None, None) == ["--quick"]
    assert run.arguments("cost", True, None, None) == []
    assert run.arguments("load", False, Path("out"), "sha") == ["--out", "out", "--commit", "sha"]


def test_a_missing_benchmark_is_reported_not_failed(capsys):
    assert run.run_one("not_written_yet", []) == "missing"
    assert "not there yet" in capsys.readouterr().out
