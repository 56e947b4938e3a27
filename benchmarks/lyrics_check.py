"""Lyric check cost per song: vocals separation (htdemucs), Whisper transcription and scoring, each timed on its own.

    python -m benchmarks.lyrics_check [--device cuda|cpu] [--seconds 95,285] [--tokens 120] [--quick] [--out DIR]

The three stages the worker runs per song, through the product's code: ``stems.Separator.separate`` (the song's
vocals), ``transcribe.Transcriber.transcribe`` (Whisper's long-form generation: 30 s windows, segment timestamps) and
``lyrics_check.score_lyrics`` of the LRC sheet (``sheet_from_lrc``) against the words heard. Per song length: wall
seconds per stage and in all (the device's seconds: a GPU worker holds its GPU through all three), the process's CPU
seconds (every thread's; ``time.process_time``), each stage's share of the total and, on CUDA, peak GPU memory.

**Models** (random weights: speed does not depend on their values), each saved in its published layout and loaded as
the worker loads it:

* htdemucs: ``benchmarks.stems.save_random_htdemucs`` (full size, 41.5 M parameters, the published ``.th``).
* Whisper: a ``WhisperForConditionalGeneration`` with openai/whisper-large-v3-turbo's configuration (d_model 1280,
  32 encoder layers, 4 decoder layers, 20 attention heads, FFN 5120, 128 mel bins, vocabulary 51866,
  max_target_positions 448, max_source_positions 1500: 809 M parameters), saved as ``save_pretrained`` writes it
  (float16 safetensors, as published) with its generation config, tokenizer and preprocessor config, and read by
  ``Transcriber.load`` (float16 on a GPU, float32 on the CPU). The files are ``testing/tiny_whisper.py``'s at full
  size: its byte-level tokenizer and generation config, with 50,001 filler word tokens so that the ids are Whisper's
  (text < 50257 = <|endoftext|> < ... < 50364 = <|notimestamps|> < 1501 timestamps up to 51865).

**Decoding is bounded.** Random weights would decode arbitrary tokens to the 448-token limit in every window (or stop
at once), misstating the decoder's cost. Here every 30 s window decodes exactly ``--tokens`` new tokens (default 120),
through the same ``generate`` call: the generation config's ``max_new_tokens`` stops it, and the random weights are
steered so that it neither stops early nor splits segments (the decoder's final layer norm holds one dimension at a
constant that every special and timestamp token's output row turns into a -100 logit, -90 for <|0.00|>): each window
is <|0.00|> then 119 text tokens, one segment spanning the window, and the next window starts 30 s on, as Whisper does
on a song where it hears words throughout (a real window ends at its last whole segment, typically 25-30 s on). 120
tokens per 30 s: sung lyrics at about 3 words per second in a dense verse, about 1.3 BPE tokens per English word, plus
a pair of timestamp tokens per sung line: an upper figure for a song with vocals throughout (choruses repeat, and
instrumental parts decode few tokens), so the decoder's cost is not understated. Every filler token is a word, so the
scorer gets 119 words per window (about 4 per second): a dense transcript, as the decoder's bound is.

**Audio**: deterministic, synthetic: a stereo 44.1 kHz "song" of a three-note chord (sine tones, the channels slightly
detuned), a vibrato tone in the voice band and white noise (seeded). The sheet: one LRC line of six words every 4 s.

``--quick``: a 15 s song on the CPU with small models (``testing.tiny.save_tiny_separator``'s htdemucs and a Whisper
of width 64 with 2 + 2 layers and the full vocabulary), one run: a smoke run of the code path, seconds on 2 cores.
On CUDA, the footer prices the GPU-seconds per song with ``benchmarks.cost``'s instance table (other GPUs scaled by
their BF16 peaks, as ``benchmarks.cost`` does: estimates).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks import cost
from benchmarks.report import RESULTS, environment, result_path, table, write_json
from benchmarks.stems import save_random_htdemucs
from inference_container.diffrhythm.stems import Separator
from inference_container.lyrics_check import score_lyrics, sheet_from_lrc
from inference_container.transcribe import Transcriber
from shared.lrc import timed_lines
from shared.timeline import SAMPLE_RATE

#: openai/whisper-large-v3-turbo's config.json (the sizes; the token ids come from the vocabulary below)
TURBO: dict[str, Any] = {"d_model": 1280, "encoder_layers": 32, "decoder_layers": 4, "encoder_attention_heads": 20,
                         "decoder_attention_heads": 20, "encoder_ffn_dim": 5120, "decoder_ffn_dim": 5120,
                         "num_mel_bins": 128, "max_source_positions": 1500, "max_target_positions": 448}
SMALL = TURBO | {"d_model": 64, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
                 "decoder_attention_heads": 4, "encoder_ffn_dim": 256, "decoder_ffn_dim": 256}
VOCAB_SIZE, TEXT_TOKENS = 51866, 50257  # turbo's vocabulary; <|endoftext|> is 50257
TURBO_ALIGNMENT_HEADS = [[2, 4], [2, 11], [3, 3], [3, 6], [3, 11], [3, 14]]
TOKENS_PER_WINDOW = 120
STAGES = ("separation", "transcription", "scoring")
LYRICS = ("hold me close under the silver light we run through the night and never look back again "
          "my heart is a drum calling your name over the river and into the fire")


def whisper_vocab() -> tuple[dict[str, int], list[str]]:
    """``testing.tiny_whisper``'s vocabulary with Whisper's ids: its 256 byte tokens, filler word tokens (a space and
    two to four letters) up to 50257, then its special tokens and timestamps (51866 in all)."""
    from itertools import product
    from string import ascii_lowercase

    from testing.tiny_whisper import _vocab

    tiny, special = _vocab()
    ordered = sorted(tiny, key=tiny.__getitem__)
    text = ordered[:tiny["<|endoftext|>"]]
    fillers = ("\u0120" + "".join(letters) for n in (2, 3, 4) for letters in product(ascii_lowercase, repeat=n))
    text += [next(fillers) for _ in range(TEXT_TOKENS - len(text))]
    tokens = text + ordered[tiny["<|endoftext|>"]:]
    assert len(tokens) == VOCAB_SIZE == len(set(tokens)), len(tokens)
    return {token: index for index, token in enumerate(tokens)}, special


def save_random_whisper(directory: Path, sizes: dict[str, Any], tokens_per_window: int, seed: int = 0) -> Path:
    """A random Whisper of ``sizes`` in the published layout, its decoding bounded and steered (the docstring above):
    every window decodes <|0.00|> and ``tokens_per_window - 1`` text tokens."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    from testing.tiny_whisper import _generation_config, _save_tokenizer

    vocab, special = whisper_vocab()
    eot, begin = vocab["<|endoftext|>"], vocab["<|0.00|>"]
    config = WhisperConfig(vocab_size=VOCAB_SIZE, pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
                           decoder_start_token_id=vocab["<|startoftranscript|>"], begin_suppress_tokens=[220, eot],
                           suppress_tokens=[], **sizes)
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    with torch.no_grad():
        norm, rows = model.model.decoder.layer_norm, model.model.decoder.embed_tokens.weight  # rows: also proj_out's
        norm.weight[0], norm.bias[0] = 0.0, 1.0  # dimension 0 of the decoder's output is 1, whatever the input
        rows[eot:, 0] = -100.0  # every special and timestamp token: logit about -100, never picked unless forced
        rows[begin, 0] = -90.0  # the first, forced, timestamp: <|0.00|>, so one segment spans the window
    generation: Any = _generation_config(vocab, sizes["max_target_positions"])
    generation.max_new_tokens = tokens_per_window
    if sizes["decoder_layers"] == TURBO["decoder_layers"]:
        generation.alignment_heads = TURBO_ALIGNMENT_HEADS
    model.generation_config = generation
    model.to(torch.float16).save_pretrained(directory)  # type: ignore[arg-type]  # float16, as published
    extractor = WhisperFeatureExtractor(feature_size=sizes["num_mel_bins"])  # type: ignore[no-untyped-call]
    extractor.save_pretrained(directory)
    _save_tokenizer(directory, vocab, special)
    return directory


def synthetic_song(seconds: float, seed: int = 0) -> np.ndarray:
    """A deterministic stereo song at 44.1 kHz, float32 [samples, 2]: chord, vibrato voice-band tone and noise."""
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    noise = np.random.default_rng(seed).standard_normal((t.size, 2))
    voice = 0.2 * np.sin(2 * np.pi * 440.0 * t + 3.0 * np.sin(2 * np.pi * 5.0 * t))
    channels = [sum(0.1 * np.sin(2 * np.pi * f * (1 + detune) * t) for f in (220.0, 277.2, 329.6)) + voice
                for detune in (0.0, 0.002)]
    return (np.stack(channels, axis=1) + 0.05 * noise).astype(np.float32)


def lrc_sheet(seconds: float, every_s: float = 4.0, words: int = 6) -> str:
    """An LRC sheet: a line of ``words`` words every ``every_s`` seconds until the song's end.

    >>> lrc_sheet(9.0, words=2)
    '[00:00.00]hold me\\n[00:04.00]close under\\n[00:08.00]the silver'
    """
    vocabulary, lines, start, index = LYRICS.split(), [], 0.0, 0
    while start < seconds:
        text = " ".join(vocabulary[(index + k) % len(vocabulary)] for k in range(words))
        lines.append(f"[{int(start // 60):02d}:{start % 60:05.2f}]{text}")
        start, index = start + every_s, index + words
    return "\n".join(lines)


def timed(device: torch.device, run: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """``run()``'s result and its wall seconds, process CPU seconds and (CUDA) peak GiB allocated."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    figures = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
               "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None}
    return result, figures


class Counter:
    """Counts a module's forward calls (Whisper's encoder: windows; its decoder: one per decoded token)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.calls = 0
        module.register_forward_pre_hook(self._count)

    def _count(self, *_: object) -> None:
        self.calls += 1


def check_song(separator: Separator, transcriber: Transcriber, song: np.ndarray, lrc: str, device: torch.device
               ) -> dict[str, Any]:
    """One song through the three stages, each timed."""
    seconds = song.shape[0] / SAMPLE_RATE
    (vocals, _), separation = timed(device, lambda: separator.separate(song, SAMPLE_RATE))
    heard, transcription = timed(device, lambda: transcriber.transcribe(vocals, SAMPLE_RATE, "en"))
    report, scoring = timed(device, lambda: score_lyrics(sheet_from_lrc(timed_lines(lrc), seconds), heard))
    return {"stages": {"separation": separation, "transcription": transcription, "scoring": scoring},
            "heard_words": len(heard), "sheet_lines": len(report.lines) if report else 0,
            "lyrics_accuracy": None if report is None else round(report.lyrics_accuracy, 3)}


def summarise(seconds: float, runs: list[dict[str, Any]], windows: int, steps: int) -> dict[str, Any]:
    """A song length's row: the median of each stage over the runs, the total, shares and the decoding's counts."""
    stages = {name: {key: statistics.median(run["stages"][name][key] for run in runs) for key in ("wall_s", "cpu_s")}
              | {"peak_gib": runs[-1]["stages"][name]["peak_gib"]} for name in STAGES}
    total = sum(stage["wall_s"] for stage in stages.values())
    for stage in stages.values():
        stage["share"] = round(stage["wall_s"] / total, 4)
    peaks = [s["peak_gib"] for s in stages.values() if s["peak_gib"] is not None]
    return {"song_s": seconds, "stages": stages, "total_wall_s": total,
            "total_cpu_s": sum(stage["cpu_s"] for stage in stages.values()), "realtime_x": round(seconds / total, 1),
            "peak_gib": max(peaks) if peaks else None, "windows": windows // len(runs),
            "decoder_steps": steps // len(runs), "heard_words": runs[-1]["heard_words"],
            "sheet_lines": runs[-1]["sheet_lines"], "runs": runs}


def price_lines(data: dict[str, Any]) -> list[str]:
    """What a song's lyric check costs on the device it ran on (CPU: not priced; GPU: ``benchmarks.cost``'s table)."""
    env = data["environment"]
    if env["device"] != "cuda":
        return [f"Cost: a CPU run ({env['device_name']}, {env['cpu_threads']} threads): "
                + "; ".join(f"{r['song_s']:g} s song {r['total_wall_s']:.1f} s of the machine, {r['total_cpu_s']:.1f}"
                            " CPU core-seconds" for r in data["rows"])
                + ". Not priced: benchmarks.cost prices GPU-hours only."]
    measured = cost.gpu_of(env["device_name"])
    lines = [f"Cost: GPU-seconds per song (the worker holds its GPU through all three stages) on {env['device_name']}: "
             + "; ".join(f"{r['song_s']:g} s song {r['total_wall_s']:.2f} s" for r in data["rows"])]
    if measured is None:
        return [*lines, f"({env['device_name']} is not in benchmarks.cost.GPUS: not priced)"]
    rows = []
    for inst in cost.INSTANCES:
        speed = cost.relative_speed(inst.gpu, measured)
        basis = "measured GPU" if inst.gpu == measured else f"estimate x{speed:.3f}"
        rows.append([inst.name, inst.gpu, basis, f"${inst.on_demand:.3f}", *(
            f"${cost.dollars_per_song(price, r['total_wall_s'], speed):.5f}"
            for r in data["rows"] for price in (inst.on_demand, inst.spot))])
    headers = [f"{label} {r['song_s']:g} s" for r in data["rows"] for label in ("$/song", "Spot $/song")]
    data["prices"] = rows
    return [*lines, table(["instance", "GPU", "basis", "$/GPU-h", *headers], rows)]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lyrics_check", description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--seconds", default="95,285", help="song lengths to check")
    parser.add_argument("--tokens", type=int, default=TOKENS_PER_WINDOW, help="tokens decoded per 30 s window")
    parser.add_argument("--reps", type=int, default=1, help="timed runs per song length (the median is reported)")
    parser.add_argument("--quick", action="store_true", help="a 15 s song on the CPU, small models")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--commit")
    args = parser.parse_args(argv)
    device = torch.device("cpu" if args.quick else args.device if args.device != "auto"
                          else "cuda" if torch.cuda.is_available() else "cpu")
    lengths = [15.0] if args.quick else [float(s) for s in args.seconds.split(",") if s]
    sizes = SMALL if args.quick else TURBO
    data: dict[str, Any] = {
        "benchmark": "lyrics_check", "environment": environment(device, args.commit),
        "settings": {"quick": args.quick, "whisper": sizes | {"vocab_size": VOCAB_SIZE}, "tokens_per_window":
                     args.tokens, "htdemucs": "testing.tiny TINY_SEPARATOR" if args.quick else "full size (41.5 M)",
                     "language": "en", "reps": args.reps, "audio": "synthetic: chord + vibrato tone + noise, stereo "
                     f"{SAMPLE_RATE} Hz", "sheet": "one LRC line of 6 words every 4 s"},
        "load_s": {}, "rows": []}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        if args.quick:
            from testing.tiny import save_tiny_separator
            stems = save_tiny_separator(Path(folder) / "htdemucs.th")
        else:
            stems = save_random_htdemucs(Path(folder) / "htdemucs.th")
        whisper = save_random_whisper(Path(folder) / "whisper", sizes, args.tokens)
        data["build_s"] = round(time.perf_counter() - started, 1)
        separator, data["load_s"]["separator"] = timed(device, lambda: Separator.load(stems, str(device)))
        transcriber, data["load_s"]["transcriber"] = timed(device, lambda: Transcriber.load(whisper, device))
    data["whisper_parameters"] = sum(p.numel() for p in transcriber.model.parameters())
    windows, steps = Counter(transcriber.model.model.encoder), Counter(transcriber.model.model.decoder)
    check_song(separator, transcriber, synthetic_song(9.0, seed=1), lrc_sheet(9.0), device)  # the warm-up
    for seconds in lengths:
        windows.calls = steps.calls = 0
        runs = [check_song(separator, transcriber, synthetic_song(seconds), lrc_sheet(seconds), device)
                for _ in range(args.reps)]
        data["rows"].append(summarise(seconds, runs, windows.calls, steps.calls))
    path = result_path(args.out, "lyrics_check", device, "quick" if args.quick else "")
    rows = [[r["song_s"], name, f"{s['wall_s']:.3f}", f"{100 * s['share']:.1f} %", f"{s['cpu_s']:.2f}", s["peak_gib"]]
            for r in data["rows"] for name, s in r["stages"].items()]
    rows += [[r["song_s"], f"total ({r['realtime_x']}x realtime)", f"{r['total_wall_s']:.3f}", "100 %",
              f"{r['total_cpu_s']:.2f}", r["peak_gib"]] for r in data["rows"]]
    rows.sort(key=lambda row: row[0])
    footer = price_lines(data)
    write_json(path, data)
    print(f"{data['environment']['device_name']}: Whisper {data['whisper_parameters'] / 1e6:.0f} M parameters "
          f"({'small' if args.quick else 'large-v3-turbo size'}, random), htdemucs "
          f"{data['settings']['htdemucs']}; built in {data['build_s']} s, loaded in "
          f"{data['load_s']['separator']['wall_s']:.1f} s + {data['load_s']['transcriber']['wall_s']:.1f} s\n"
          f"Decoding bounded to {args.tokens} tokens per 30 s window (sung lyrics ~3 words/s x ~1.3 tokens/word + "
          "timestamps); per song: "
          + "; ".join(f"{r['song_s']:g} s: {r['windows']} windows, {r['decoder_steps']} decoder steps, "
                      f"{r['heard_words']} words heard, {r['sheet_lines']} sheet lines" for r in data["rows"]) + "\n"
          + table(["song s", "stage", "wall s", "share", "CPU s", "peak GiB"], rows) + "\n\n"
          + "\n".join(footer) + f"\n\n{path}", flush=True)
    return data


if __name__ == "__main__":
    main()
