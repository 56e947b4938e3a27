"""``benchmarks.load`` end to end on a tiny-width DiT: fresh processes load the converted file and the published
``.pt`` through the product's load path, and the JSON and table report both with their ratio."""

from __future__ import annotations

import json

import pytest

from benchmarks.load import main


@pytest.mark.slow  # one fresh Python process per measurement
def test_load_benchmark_times_converted_and_published_files_in_fresh_processes(tmp_path, capsys):
    data = main(["--device", "cpu", "--variants", "full", "--dtype", "fp32,bf16", "--cache", "cold",
                 "--paths", "converted,pt,pt-mmap", "--reps", "1", "--depth", "1", "--dim", "64", "--frames", "4",
                 "--work-dir", str(tmp_path), "--out", str(tmp_path / "results")])
    (written,) = (tmp_path / "results").glob("load-cpu-*.json")
    assert json.loads(written.read_text())["summary"] == data["summary"]
    files = {(e["precision"], e["path"]): e["file"] for e in data["summary"]}
    assert files == {("fp32", "converted"): "dit/full/cfm_model.fp32.safetensors",
                     ("bf16", "converted"): "dit/full/cfm_model.bf16.safetensors",
                     **{(p, path): "dit/full/cfm_model.pt" for p in ("fp32", "bf16") for path in ("pt", "pt-mmap")}}
    for entry in data["summary"]:
        assert entry["cache"] == "cold" and entry["runs"] == 1
        assert 0 < entry["load_s"] < entry["ready_s"] and entry["import_s"] > 0 and entry["peak_rss_gib"] > 0
        assert entry["vs_pt_ready"] == pytest.approx(1.0) if entry["path"] == "pt" else entry["vs_pt_ready"] > 0
    assert data["bundles"]["full"]["converted_bytes"]["bf16"] < data["bundles"]["full"]["pt_bytes"]
    assert data["environment"]["torch"] and data["settings"]["dim"] == 64
    out = capsys.readouterr().out
    assert "| variant | dtype | cache | path" in out and "cfm_model.bf16.safetensors" in out and str(written) in out
    assert not list(tmp_path.glob("diffrhythm-load-*"))  # the temporary bundles are gone
