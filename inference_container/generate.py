"""``generate``: one song from the command line, through the API's contract (its limits, defaults and lyric timing) and
the worker's resolver (``diffrhythm.songs.song_request``); the pipeline is loaded once the flags are valid."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from inference_container.diffrhythm.device import PRECISIONS
from inference_container.errors import ModelError
from shared.contract import GenerateRequest
from shared.formats import OutputFormat
from shared.lyrics import DEFAULT_BPM
from shared.presets import MasterPreset, Preset
from shared.timeline import MAX_SECONDS, MIN_SECONDS, variant_for


def _device(name: str) -> str:
    from inference_container.diffrhythm.device import resolve_device

    return resolve_device(name)


def _read_audio(path: str) -> tuple[object, int]:
    import soundfile

    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return data, rate


#: the flag of each request field the command sets (its messages name fields; the user typed flags)
_FLAGS = {"lyrics": "--lyrics", "instrumental": "--instrumental", "style_prompt": "--style",
          "reference_audio_key": "--style-audio", "style_weight": "--style-weight",
          "negative_style_prompt": "--negative-style", "audio_length": "--length", "batch_size": "--variations",
          "best_of": "--best-of", "steps": "--steps", "cfg_strength": "--cfg", "bpm": "--bpm", "title": "--title",
          "edit": "--edit-from/--extend-from", "segments": "--edit-segments/--extend-at", "remix": "--remix-from",
          "strength": "--strength"}


def _refused(error: ValueError) -> SystemExit:
    """Exit 2 with the request's errors, each naming the flags it is about."""
    import re

    lines = []
    for item in error.errors() if isinstance(error, ValidationError) else [{"loc": (), "msg": str(error)}]:
        message = str(item["msg"]).removeprefix("Value error, ")
        fields = [str(part) for part in item["loc"] if str(part) in _FLAGS] or \
            [name for name in _FLAGS if re.search(rf"\b{name}\b", message)]
        flags = ", ".join(dict.fromkeys(_FLAGS[name] for name in fields))
        lines.append(f"error: {message}" + (f" ({flags})" if flags else ""))
    print("\n".join(lines), file=sys.stderr)
    return SystemExit(2)


def _request(args: argparse.Namespace, fmt: OutputFormat) -> GenerateRequest:
    """The command's flags as the API's request: validated by the same contract (limits, style, lyrics, edits), with
    its defaults where a flag is not given."""
    import json
    from pathlib import Path

    from shared.contract import EditRequest, draw_seed

    source = args.extend_from or args.edit_from
    try:
        segments = [(args.extend_at, -1)] if args.extend_from else \
            json.loads(args.edit_segments) if args.edit_segments else None
        fields = {
            "lyrics": Path(args.lyrics).read_text(encoding="utf-8") if args.lyrics else None,
            "instrumental": args.instrumental, "style_prompt": args.style, "reference_audio_key": args.style_audio,
            "style_weight": args.style_weight, "negative_style_prompt": args.negative_style, "title": args.title,
            "audio_length": args.length, "batch_size": args.variations, "best_of": args.best_of,
            "preset": args.preset, "steps": args.steps, "cfg_strength": args.cfg, "bpm": args.bpm,
            "auto_master": args.auto_master, "master_preset": args.master_preset, "stems": args.stems,
            "seed": args.seed if args.seed is not None else draw_seed(), "output_format": fmt,
            "edit": EditRequest(reference_audio_key=source, segments=segments) if source else None,
            "remix": {"reference_audio_key": args.remix_from, "strength": args.strength} if args.remix_from else None,
        }
        return GenerateRequest(**{name: value for name, value in fields.items() if value is not None})
    except ValidationError as error:
        raise _refused(error) from None
    except (OSError, ValueError) as error:  # an unreadable lyrics file, --edit-segments that are not JSON
        raise _refused(ValueError(str(error))) from None


def _lyrics(args: argparse.Namespace, request: GenerateRequest) -> str:
    """The LRC to sing, timed as the API times it (untimed and section-tagged lines at ``--bpm``); an extension's is
    the extended song's lines before ``--extend-at`` (from the ``.lyrics.lrc`` file this command wrote beside it)
    followed by the new lyrics, as the API joins them; a remix's untimed lyrics take the times of the remixed song's
    lines (its ``.lyrics.lrc``) as the API's do. Warnings are printed."""
    from pathlib import Path

    from shared.lyrics import extended_lyrics
    from shared.remix import remix_lyrics

    parsed = request.parsed_lyrics()
    warnings = list(parsed.warnings)
    lrc = request.timed_lrc(parsed)
    if args.extend_from:
        sung = Path(args.extend_from).with_suffix(".lyrics.lrc")
        if not sung.is_file():
            warnings.append(f"no {sung.name} beside {args.extend_from}: the part kept has no lyrics to follow")
        lyrics = None if request.instrumental else request.lyrics
        lrc, joined = extended_lyrics(sung.read_text(encoding="utf-8") if sung.is_file() else "", args.extend_at,
                                      lyrics, request.audio_length, request.bpm)
        warnings += joined
    source = Path(args.remix_from).with_suffix(".lyrics.lrc") if args.remix_from else None
    if source is not None and source.is_file() and request.lyrics and not request.instrumental:
        remixed, timing = remix_lyrics(source.read_text(encoding="utf-8"), request.lyrics, request.audio_length,
                                       request.bpm)
        lrc, warnings = (remixed, timing) if remixed is not None else (lrc, warnings + timing)
    for warning in warnings:
        print(f"warning: {warning}")
    return lrc


def _generate(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import soundfile
    from tqdm import tqdm

    from inference_container.audio import Provenance
    from inference_container.diffrhythm.bundle.reader import Bundle
    from inference_container.diffrhythm.pipeline import Pipeline
    from inference_container.diffrhythm.songs import song_request

    bundle = Bundle(Path(args.weights))
    if bundle.is_tiny:
        print(f"!!! {bundle.kind}: {args.weights} is not DiffRhythm; the song will be noise !!!", flush=True)
    out = Path(args.output)
    try:
        fmt = OutputFormat(out.suffix.lstrip(".").lower())
    except ValueError:
        raise _refused(ValueError(f"-o must end in {', '.join('.' + f.value for f in OutputFormat)}")) from None
    if args.extend_from and (args.edit_from or args.extend_at is None):
        raise _refused(ValueError("--extend-from needs --extend-at SECONDS (and no --edit-from)"))
    if (args.strength is None) != (args.remix_from is None):
        raise _refused(ValueError("--remix-from SONG and --strength S (0 < S <= 1) go together"))
    request = _request(args, fmt)
    if args.extend_from and args.extend_at > (length := soundfile.info(args.extend_from).duration):
        raise _refused(ValueError(f"--extend-at: {args.extend_from} is {length:.1f} s long; keep at most that"))
    try:
        lrc = _lyrics(args, request)
    except ValueError as error:  # LyricsError: every problem, each naming its line
        raise _refused(error) from None
    assert request.seed is not None
    print(f"seed {request.seed}")
    pipeline = Pipeline.load(args.weights, device=_device(args.device), dtype=args.dtype,
                             variants=[variant_for(request.audio_length).name])
    request_song = song_request(
        request, lrc=lrc, seed=request.seed,
        style_audio=_read_audio(args.style_audio) if args.style_audio else None,
        edit_audio=_read_audio(args.extend_from or args.edit_from) if request.edit else None,
        remix_audio=_read_audio(args.remix_from) if request.remix else None)
    bar = tqdm(total=100, unit="%", desc="generating", bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")

    def progress(stage: str, percent: float) -> None:
        bar.set_description(stage)
        bar.update(max(0.0, percent - bar.n))

    try:
        song = pipeline.generate(request_song, progress)
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
    for item in render(song, (fmt,), Provenance(args.title, model, request.seed, "local")):
        if item.format == fmt and item.kind == "song":  # out, out_1, ...: the songs, best first with --best-of
            target = out if item.index == 0 else out.with_name(f"{out.stem}_{item.index}{out.suffix}")
        elif item.name == "metadata.json":
            target = out.with_suffix(".json")
        else:  # out.0.peaks.json, out.0.vocals.wav, out.lyrics.lrc ...
            target = out.with_name(f"{out.stem}.{item.name}")
        target.write_bytes(item.data)
        said = [f"score {item.score:.3f}"] if item.score is not None else []
        said += [f"lyrics sung {item.lyrics_accuracy:.0%}"] if item.lyrics_accuracy is not None else []
        print(f"wrote {target}" + (f" ({', '.join(said)})" if said else ""))
    if song.metadata.get("lyric_check"):
        print(f"lyrics checked by {song.metadata['lyric_check']} (per line: {out.stem}.lyrics.json)")
    for warning in song.warnings:
        print(f"warning: {warning}")
    print(json.dumps(song.metadata["timings"]))
    return 0


def add_generate(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``generate``."""
    generate = commands.add_parser("generate", help="generate a song from lyrics and a style")
    generate.add_argument("--weights", required=True, help="weights bundle directory")
    generate.add_argument("--lyrics", help="lyrics file: LRC, plain lines or section tags (required unless "
                          "--instrumental)")
    generate.add_argument("--instrumental", action="store_true", help="no vocals")
    generate.add_argument("--bpm", type=int, help=f"tempo that times untimed lyrics (default {DEFAULT_BPM:g})")
    generate.add_argument("--style", help="text style prompt")
    generate.add_argument("--style-audio", help="reference clip (>= 10 s); with --style, the two are mixed")
    generate.add_argument("--style-weight", type=float, default=None, help="the text's share when mixing (0..1)")
    generate.add_argument("--negative-style", help="a style to steer away from (instead of the built-in one)")
    generate.add_argument("--title", help="title written into the file's tags")
    generate.add_argument("--length", type=int,
                          help=f"seconds: {MIN_SECONDS}, or {MIN_SECONDS + 1}..{MAX_SECONDS} (full model)")
    generate.add_argument("--seed", type=int, help="default: drawn, and printed")
    generate.add_argument("--preset", choices=[p.value for p in Preset], help=f"default {Preset.HIGH.value}")
    generate.add_argument("--steps", type=int, default=None, help="overrides the preset")
    generate.add_argument("--cfg", type=float, default=None, help="overrides the preset's guidance strength")
    generate.add_argument("--variations", type=int, help="songs from consecutive seeds (default 1)")
    generate.add_argument("--best-of", type=int, default=None, help="generate N variations, ranked by score")
    generate.add_argument("--stems", action="store_true", help="also write vocals and accompaniment")
    generate.add_argument("--edit-from", help="song to edit")
    generate.add_argument("--edit-segments", help='seconds to regenerate, e.g. "[[10,20],[60,-1]]"')
    generate.add_argument("--extend-from", help="song to extend to --length")
    generate.add_argument("--extend-at", type=float, default=None, help="with --extend-from: keep it up to here")
    generate.add_argument("--remix-from", help="song to remix with --style and --lyrics")
    generate.add_argument("--strength", type=float, default=None, help="with --remix-from: how much changes, "
                          "0 < S <= 1 (1: a new song)")
    generate.add_argument("--auto-master", action=argparse.BooleanOptionalAction,
                          help="master to --master-preset's loudness (default: on, as the API)")
    generate.add_argument("--master-preset", choices=[p.value for p in MasterPreset],
                          help=f"default {MasterPreset.BALANCED.value}")
    generate.add_argument("--device", default="auto")
    generate.add_argument("--dtype", default="auto", choices=PRECISIONS)
    generate.add_argument("-o", "--output", required=True,
                          help=f"output file: {', '.join('out.' + f.value for f in OutputFormat)}")
    generate.set_defaults(run=_generate)
