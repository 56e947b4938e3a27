"""The worker image's command line (``python -m inference_container``), also the model subcommands of the
development ``diffrhythm`` command. torch is imported only when a subcommand runs."""

from __future__ import annotations

import argparse
import sys

from inference_container.diffrhythm.device import PRECISIONS
from inference_container.errors import ModelError
from shared.contract import OutputFormat
from shared.presets import MasterPreset, Preset
from shared.timeline import MAX_SECONDS, MIN_SECONDS, VARIANTS, variant_for


def _device(name: str) -> str:
    from inference_container.diffrhythm.device import resolve_device

    return resolve_device(name)


def _read_audio(path: str) -> tuple[object, int]:
    import soundfile

    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return data, rate


def _lrc(args: argparse.Namespace) -> str:
    """The LRC to sing: the lyrics file timed as the API times it (untimed and section-tagged lines at ``--bpm``);
    empty for an instrumental."""
    from pathlib import Path

    from shared.lyrics import parse_lrc

    if args.lyrics is None:
        return ""
    text = Path(args.lyrics).read_text(encoding="utf-8")
    parsed = parse_lrc(text, args.length, bpm=args.bpm)
    for warning in parsed.warnings:
        print(f"warning: {warning}")
    return text if parsed.timed else parsed.to_lrc()


def _generate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tqdm import tqdm

    from inference_container.audio import Provenance
    from inference_container.diffrhythm.bundle.reader import Bundle
    from inference_container.diffrhythm.pipeline import Pipeline, SongRequest
    from shared.lrc import LyricsError
    from shared.presets import PRESETS

    bundle = Bundle(Path(args.weights))
    if bundle.is_tiny:
        print(f"!!! {bundle.kind}: {args.weights} is not DiffRhythm; the song will be noise !!!", flush=True)
    out = Path(args.output)
    try:
        fmt = OutputFormat(out.suffix.lstrip(".").lower())
    except ValueError:
        raise SystemExit(f"-o must end in {', '.join('.' + f.value for f in OutputFormat)}") from None
    if not args.style and not args.style_audio:
        raise SystemExit("give --style, --style-audio, or both")
    if (args.lyrics is None) == (not args.instrumental):
        raise SystemExit("give --lyrics, or --instrumental without lyrics")
    if args.extend_from and (args.edit_from or args.extend_at is None):
        raise SystemExit("--extend-from needs --extend-at SECONDS (and no --edit-from)")
    try:
        lrc = _lrc(args)
    except LyricsError as error:
        raise SystemExit(f"error: {error}") from None
    preset = PRESETS[Preset(args.preset)]
    variant = variant_for(args.length).name
    pipeline = Pipeline.load(args.weights, device=_device(args.device), dtype=args.dtype, variants=[variant])
    edit_from, segments = args.edit_from, json.loads(args.edit_segments) if args.edit_segments else None
    if args.extend_from:
        edit_from, segments = args.extend_from, [[args.extend_at, -1]]
    request = SongRequest(
        lrc=lrc, audio_length=args.length, style_prompt=args.style,
        style_audio=_read_audio(args.style_audio) if args.style_audio else None, seed=args.seed,
        variations=args.best_of or args.variations, steps=args.steps or preset.steps,
        cfg_strength=args.cfg if args.cfg is not None else preset.cfg_strength,
        edit_audio=_read_audio(edit_from) if edit_from else None, edit_segments=segments,
        auto_master=args.auto_master, master_preset=args.master_preset, instrumental=args.instrumental,
        style_weight=args.style_weight, negative_style_prompt=args.negative_style, rank=args.best_of is not None,
        stems=args.stems,
    )
    bar = tqdm(total=100, unit="%", desc="generating", bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")

    def progress(stage: str, percent: float) -> None:
        bar.set_description(stage)
        bar.update(max(0.0, percent - bar.n))

    try:
        song = pipeline.generate(request, progress)
    except ValueError as error:  # the input's fault (InputError and the contract's checks): reasons a user can act on
        bar.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ModelError as error:  # ours: a bundle or model file that is not what it must be
        bar.close()
        print(f"error in the weights bundle {args.weights} (not your input): {error}", file=sys.stderr)
        return 1
    bar.update(100 - bar.n)
    bar.close()
    from inference_container.diffrhythm.outputs import render

    model = f"{song.metadata.get('model')}-{song.metadata.get('variant')}"
    for item in render(song, (fmt,), Provenance(args.title, model, args.seed, "local")):
        if item.format == fmt and item.kind == "song":  # out, out_1, ...: the songs, best first with --best-of
            target = out if item.index == 0 else out.with_name(f"{out.stem}_{item.index}{out.suffix}")
        elif item.name == "metadata.json":
            target = out.with_suffix(".json")
        else:  # out.0.peaks.json, out.0.vocals.wav, out.lyrics.lrc ...
            target = out.with_name(f"{out.stem}.{item.name}")
        target.write_bytes(item.data)
        print(f"wrote {target}" + (f" (score {item.score:.3f})" if item.score is not None else ""))
    for warning in song.warnings:
        print(f"warning: {warning}")
    print(json.dumps(song.metadata["timings"]))
    return 0


def _fetch_weights(args: argparse.Namespace) -> int:
    from inference_container.diffrhythm.bundle.fetch import fetch_weights
    from inference_container.diffrhythm.bundle.reader import BundleError

    try:
        bundle = fetch_weights(args.directory, tuple(args.variants), stems=not args.no_stems,
                               accept_noncommercial=args.accept_noncommercial, say=lambda line: print(line, flush=True))
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    bundle.verify(checksums=False)  # the manifest was just written from the files' hashes
    licences = sorted({f"{entry['licence']}{' (non-commercial)' if entry['non_commercial'] else ''}"
                       for entry in bundle.licences.values()})
    print(f"fetched, verified and loaded {len(bundle.manifest['files'])} files into {args.directory}; licences: "
          f"{', '.join(licences)}")
    return 0


def _convert_weights(args: argparse.Namespace) -> int:
    from inference_container.diffrhythm.bundle.convert import convert_weights
    from inference_container.diffrhythm.bundle.reader import BundleError

    try:
        written = convert_weights(args.directory, tuple(args.dtype), tuple(args.variants) if args.variants else None)
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, entry in written.items():
        print(f"{name}: {entry['bytes'] / 2**20:.1f} MiB {entry['precision']} from {entry['source']} "
              f"(sha256 {entry['source_sha256'][:12]})")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from inference_container.worker.main import run, serve

    return serve(args.port) if args.sagemaker else run(args.max_messages)


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the model subcommands on the ``diffrhythm`` parser."""
    worker = commands.add_parser("worker", help="consume the job queue (settings from the environment)")
    worker.add_argument("--max-messages", type=int, default=None, help="stop after this many messages")
    worker.add_argument("--sagemaker", action="store_true", help="serve GET /ping and POST /invocations instead")
    worker.add_argument("--port", type=int, default=8080, help="port of the SageMaker endpoints")
    worker.set_defaults(run=_worker)

    generate = commands.add_parser("generate", help="generate a song from lyrics and a style")
    generate.add_argument("--weights", required=True, help="weights bundle directory")
    generate.add_argument("--lyrics", help="lyrics file: LRC, plain lines or section tags (required unless "
                          "--instrumental)")
    generate.add_argument("--instrumental", action="store_true", help="no vocals")
    generate.add_argument("--bpm", type=float, default=None, help="tempo that times untimed lyrics (default 100)")
    generate.add_argument("--style", help="text style prompt")
    generate.add_argument("--style-audio", help="reference clip (>= 10 s); with --style, the two are mixed")
    generate.add_argument("--style-weight", type=float, default=None, help="the text's share when mixing (0..1)")
    generate.add_argument("--negative-style", help="a style to steer away from (instead of the built-in one)")
    generate.add_argument("--title", help="title written into the file's tags")
    generate.add_argument("--length", type=int, default=MIN_SECONDS,
                          help=f"seconds: {MIN_SECONDS}, or {MIN_SECONDS + 1}..{MAX_SECONDS} (full model)")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--preset", default="high", choices=[p.value for p in Preset])
    generate.add_argument("--steps", type=int, default=None, help="overrides the preset")
    generate.add_argument("--cfg", type=float, default=None, help="overrides the preset's guidance strength")
    generate.add_argument("--variations", type=int, default=1)
    generate.add_argument("--best-of", type=int, default=None, help="generate N variations, ranked by score")
    generate.add_argument("--stems", action="store_true", help="also write vocals and accompaniment")
    generate.add_argument("--edit-from", help="song to edit")
    generate.add_argument("--edit-segments", help='seconds to regenerate, e.g. "[[10,20],[60,-1]]"')
    generate.add_argument("--extend-from", help="song to extend to --length")
    generate.add_argument("--extend-at", type=float, default=None, help="with --extend-from: keep it up to here")
    generate.add_argument("--auto-master", action="store_true", help="master to the preset's loudness")
    generate.add_argument("--master-preset", default="balanced", choices=[p.value for p in MasterPreset])
    generate.add_argument("--device", default="auto")
    generate.add_argument("--dtype", default="auto", choices=PRECISIONS)
    generate.add_argument("-o", "--output", required=True,
                          help=f"output file: {', '.join('out.' + f.value for f in OutputFormat)}")
    generate.set_defaults(run=_generate)

    fetch = commands.add_parser("fetch-weights", help="download the real weights bundle from its pinned sources "
                                "(bundle.sources.ARTIFACTS) and load it as the worker does")
    fetch.add_argument("directory")
    fetch.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    fetch.add_argument("--accept-noncommercial", action="store_true",
                       help="accept weights licensed for non-commercial use only (MuQ-MuLan: CC BY-NC 4.0); "
                       "without it the fetch refuses")
    fetch.add_argument("--no-stems", action="store_true", help="leave out the stems separator (htdemucs)")
    fetch.set_defaults(run=_fetch_weights)

    convert = commands.add_parser("convert-weights", help="write each DiT of a bundle as safetensors in the "
                                  "precisions given (the worker loads them instead of the .pt: a faster start)")
    convert.add_argument("directory")
    convert.add_argument("--dtype", nargs="+", default=["bf16"], choices=PRECISIONS[1:],
                         help="precisions to store (default bf16, a GPU's; fp32 for a CPU worker)")
    convert.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="default: every variant the bundle has")
    convert.set_defaults(run=_convert_weights)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker image: ``python -m inference_container worker`` (and the model commands)."""
    parser = argparse.ArgumentParser(prog="python -m inference_container", description="DiffRhythm GPU worker")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result
