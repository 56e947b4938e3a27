"""The worker image's command line (``python -m inference_container``), also the model subcommands of the
development ``diffrhythm`` command. torch is imported only when a subcommand runs."""

from __future__ import annotations

import argparse
import sys

from inference_container.diffrhythm.device import PRECISIONS
from inference_container.generate import add_generate
from shared.timeline import VARIANTS


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


def _verify_provenance(args: argparse.Namespace) -> int:
    from pathlib import Path

    from inference_container.audio.credentials import verify

    verdict = verify(Path(args.file).read_bytes(), Path(args.anchor).read_text())
    if verdict.ours:
        print(f"{args.file}: made by this service (job {verdict.job_id}) and unchanged since")
        return 0
    print(f"{args.file}: not shown to come from this service unchanged", file=sys.stderr)
    for problem in verdict.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


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

    add_generate(commands)

    fetch = commands.add_parser("fetch-weights", help="download the real weights bundle from its pinned sources "
                                "(bundle.sources.ARTIFACTS) and load it as the worker does")
    fetch.add_argument("directory")
    fetch.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    fetch.add_argument("--accept-noncommercial", action="store_true",
                       help="accept weights licensed for non-commercial use only (MuQ-MuLan: CC BY-NC 4.0); "
                       "without it the fetch refuses")
    fetch.add_argument("--no-stems", action="store_true", help="leave out the optional parts: the stems separator "
                       "(htdemucs) and the lyric check's Whisper, which transcribes the separated vocals")
    fetch.set_defaults(run=_fetch_weights)

    convert = commands.add_parser("convert-weights", help="write each DiT of a bundle as safetensors in the "
                                  "precisions given (the worker loads them instead of the .pt: a faster start)")
    convert.add_argument("directory")
    convert.add_argument("--dtype", nargs="+", default=["bf16"], choices=PRECISIONS[1:],
                         help="precisions to store (default bf16, a GPU's; fp32 for a CPU worker)")
    convert.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="default: every variant the bundle has")
    convert.set_defaults(run=_convert_weights)

    check = commands.add_parser("verify-provenance", help="check a song's signed C2PA manifest: made by this "
                                "service and unchanged (exit 0), or why not (exit 1)")
    check.add_argument("file", help="a WAV, FLAC or MP3")
    check.add_argument("--anchor", required=True, help="the deployment's trust anchor (PEM): the root of its signing "
                       "chain (diffrhythm credentials create prints it; the local stack writes provenance-anchor.pem)")
    check.set_defaults(run=_verify_provenance)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker image: ``python -m inference_container worker`` (and the model commands)."""
    parser = argparse.ArgumentParser(prog="python -m inference_container", description="DiffRhythm GPU worker")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result
