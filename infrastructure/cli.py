"""The ``diffrhythm`` command. Subcommands import what they need lazily (the model side is heavy)."""

from __future__ import annotations

import argparse
import sys


def _local(args: argparse.Namespace) -> int:
    from infrastructure.local.demo import run_local

    return run_local(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``diffrhythm`` console script."""
    parser = argparse.ArgumentParser(prog="diffrhythm", description="DiffRhythm as a service")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="run the whole service locally (moto server, API, worker on the CPU)")
    local.add_argument("--weights", default=None, help="a weights bundle; without one, a TINY RANDOM test bundle "
                       "(--worker container: the image's own bundle)")
    local.add_argument("--worker", choices=("process", "container"), default="process",
                       help="process: the worker in this process, on the CPU; container: the worker image "
                       "(--network host, read-only, as the ECS task runs it), --weights mounted read-only")
    local.add_argument("--image", default="diffrhythm-worker:tiny",
                       help="--worker container: the image (the tiny one is built with `make image` when missing)")
    local.add_argument("--output", default="local-output", help="where songs (and the tiny bundle) are written")
    local.add_argument("--no-demo", action="store_true", help="do not submit the example request at start")
    local.add_argument("--port", type=int, default=8000, help="API port")
    local.add_argument("--moto-port", type=int, default=5000, help="moto server port")
    local.add_argument("--api-key", default="local-dev-key-0123456789", help="the accepted X-API-Key")
    local.add_argument("--cors-origins", default="http://localhost:3000,http://127.0.0.1:3000",
                       help="comma-separated browser origins")
    local.set_defaults(run=_local)
    from inference_container.cli import add_commands
    from infrastructure.credentials_cli import add_commands as add_credential_commands
    from infrastructure.keys_cli import add_commands as add_key_commands
    from testing.cli import add_commands as add_test_commands

    add_commands(commands)
    add_test_commands(commands)  # make-test-weights, verify-checkpoint: test code, not in the worker image
    add_key_commands(commands)
    add_credential_commands(commands)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
