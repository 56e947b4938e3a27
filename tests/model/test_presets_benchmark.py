"""``benchmarks.presets`` on a narrow DiT: every preset's counted rows beside high's, the timed ones checked against
the rows the DiT actually ran, the goal line, and the JSON it writes."""

from __future__ import annotations

import json

from benchmarks.presets import main
from shared.presets import PRESETS, Preset


def test_the_presets_benchmark_counts_every_preset_beside_high_and_times_those_asked_for(tmp_path, capsys):
    data = main(["--quick", "--dim", "64", "--depth", "1", "--frames", "8", "--batch", "1,2",
                 "--presets", "turbo", "--out", str(tmp_path)])
    (written,) = tmp_path.glob("presets-cpu-*-quick.json")
    assert json.loads(written.read_text())["rows"] == data["rows"]
    rows = {(r["preset"], r["batch"]): r for r in data["rows"]}
    assert {p for p, _ in rows} == {p.value for p in Preset} and {b for _, b in rows} == {1, 2}
    for (name, _), row in rows.items():
        assert row["dit_rows"] == PRESETS[Preset(name)].forward_rows()
        assert ("per_song_s" in row) == (name == "turbo")
    assert rows["high", 1]["dit_rows"] == 62 and rows["fast", 1]["dit_rows"] == 20 and rows["fast", 1]["guided"] == 5
    assert rows["fast", 1]["vs_high_rows"] <= 1 / 3 and rows["turbo", 2]["per_song_s"] > 0
    assert data["goal"].startswith("Goal (a fast preset") and ": met:" in data["goal"]
    out = capsys.readouterr().out
    assert "| preset" in out and "DiT rows/song" in out and data["goal"] in out and str(written) in out
