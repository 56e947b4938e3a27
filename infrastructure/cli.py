"""The ``diffrhythm`` command. Subcommands import what they need lazily (the model side is heavy)."""

from __future__ import annotations

import argparse
import sys


def _local(args: argparse.Namespace) -> int:
    from infrastructure.local.stack import LocalStack

    stack = LocalStack({"API_KEYS": args.api_key, "CORS_ORIGINS": args.cors_origins}, api_port=args.port,
                       moto_port=args.moto_port)
    stack.start_aws()
    print(f"""
DiffRhythm service, local control plane
  API        {stack.api_url}        (OpenAPI: {stack.api_url}/docs)
  API key    X-API-Key: {args.api_key}
  AWS        moto server at {stack.endpoint_url} (bucket {stack.env['BUCKET_NAME']}, table {stack.env['TABLE_NAME']})
  Status     S3 events are delivered to the status function by the local dispatcher
  Worker     none yet: queued jobs wait in SQS (the GPU worker arrives with the worker issue)
Try:
  curl -s -X POST {stack.api_url}/api/v1/generate -H 'X-API-Key: {args.api_key}' -H 'Content-Type: application/json' \\
    -d '{{"lyrics": "[00:00.00]Line 1\\n[00:05.00]Line 2", "style_prompt": "pop, upbeat, energetic"}}'
""", flush=True)
    try:
        stack.serve_api(block=True)
    finally:
        stack.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``diffrhythm`` console script."""
    parser = argparse.ArgumentParser(prog="diffrhythm", description="DiffRhythm as a service")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="run the control plane locally on a moto server")
    local.add_argument("--port", type=int, default=8000, help="API port")
    local.add_argument("--moto-port", type=int, default=5000, help="moto server port")
    local.add_argument("--api-key", default="local-dev-key", help="the accepted X-API-Key")
    local.add_argument("--cors-origins", default="http://localhost:3000,http://127.0.0.1:3000",
                       help="comma-separated browser origins")
    local.set_defaults(run=_local)
    from inference_container.cli import add_commands

    add_commands(commands)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
