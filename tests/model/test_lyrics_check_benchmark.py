"""``benchmarks.lyrics_check``: its ``--quick`` run (small random htdemucs and Whisper, a 15 s song on the CPU) times
the three stages through the product's code and writes its JSON; the orchestrator runs it with ``--quick``."""

from __future__ import annotations

import json

import pytest

from benchmarks import run
from benchmarks.lyrics_check import STAGES, VOCAB_SIZE, lrc_sheet, main, whisper_vocab


def test_the_orchestrator_runs_the_lyric_check_with_quick():
    assert "lyrics_check" in run.BENCHMARKS and run.BENCHMARKS[-1] == "cost"
    assert run.arguments("lyrics_check", True, None, "sha") == ["--quick", "--commit", "sha"]


def test_the_benchmark_vocabulary_has_whispers_ids():
    vocab, _ = whisper_vocab()
    assert len(vocab) == VOCAB_SIZE
    assert (vocab["<|endoftext|>"], vocab["<|notimestamps|>"], vocab["<|0.00|>"], vocab["<|30.00|>"]) == (
        50257, 50364, 50365, 51865)
    assert lrc_sheet(4.0).count("\n") == 0 and lrc_sheet(4.1).count("\n") == 1


@pytest.mark.slow  # builds two models and runs the whole check: about 30 s on two busy cores
def test_quick_run_times_each_stage_and_bounds_decoding(tmp_path, capsys):
    data = main(["--quick", "--out", str(tmp_path)])
    (written,) = tmp_path.glob("lyrics_check-cpu-*-quick.json")
    assert json.loads(written.read_text())["rows"] == data["rows"]
    (row,) = data["rows"]
    assert row["song_s"] == 15.0 and set(row["stages"]) == set(STAGES)
    assert row["total_wall_s"] == pytest.approx(sum(s["wall_s"] for s in row["stages"].values()))
    assert sum(s["share"] for s in row["stages"].values()) == pytest.approx(1.0, abs=1e-3)
    assert (row["windows"], row["decoder_steps"], row["heard_words"]) == (1, 120, 119)  # <|0.00|> + 119 words
    assert row["sheet_lines"] == 4 and data["settings"]["tokens_per_window"] == 120
    out = capsys.readouterr().out
    assert "| song s | stage" in out and "Not priced" in out and str(written) in out
