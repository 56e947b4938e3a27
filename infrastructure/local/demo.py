"""``diffrhythm local``: the whole service on this machine, one song generated end to end, then the demo page."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path

import requests

from infrastructure.local.container import WorkerContainers, check_readable, ensure_image, image_weights
from infrastructure.local.stack import LocalStack
from shared.contract import FRONTEND_EXAMPLE

SEED_REQUEST = FRONTEND_EXAMPLE  # the existing frontend's example request, unchanged
LOCAL_CUSTOMER = "local"  # the customer (owner) of the key given with --api-key
BANNER = "!" * 100


def resolve_weights(weights: str | None, output: Path) -> tuple[str, bool]:
    """The bundle to use: ``weights`` when it holds one, else a TINY RANDOM bundle made under ``output``."""
    if weights and (Path(weights) / "manifest.json").is_file():
        return weights, False
    tiny = output / "tiny-weights"
    if not (tiny / "manifest.json").is_file():
        from testing.tiny import make_test_weights

        make_test_weights(tiny)
    return str(tiny), True


def generate_one(api_url: str, api_key: str, output: Path, timeout_s: float = 1800) -> Path:
    """Submit the seed's example request, follow it to the end, save the WAV; returns its path."""
    headers = {"X-API-Key": api_key}
    job = requests.post(f"{api_url}/api/v1/generate", json=SEED_REQUEST, headers=headers, timeout=30)
    job.raise_for_status()
    job_id = job.json()["job_id"]
    print(f"submitted the frontend's example request: job {job_id}", flush=True)
    deadline, shown = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        status = requests.get(f"{api_url}/api/v1/status/{job_id}", headers=headers, timeout=30).json()
        progress = status.get("progress") or {}
        line = f"  {status['status']} {progress.get('stage', '')} {progress.get('percent', '')}"
        if line != shown:
            print(line, flush=True)
            shown = line
        if status["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(1)
    if status["status"] != "completed":
        raise SystemExit(f"job {job_id} ended {status['status']}: {status.get('error')}")
    audio = requests.get(f"{api_url}/api/v1/download/{job_id}", headers=headers, timeout=60)
    audio.raise_for_status()
    path = output / f"{job_id}.wav"
    path.write_bytes(audio.content)
    return path


def container_weights(weights: str | None, image: str) -> tuple[str | None, bool]:
    """``--worker container``: the bundle to mount (None: the image's own) and whether it is a TINY RANDOM one.
    Builds the tiny image when it is missing."""
    ensure_image(image)
    if weights and (Path(weights) / "manifest.json").is_file():
        try:
            check_readable(weights)
        except ValueError as refused:
            raise SystemExit(f"--weights {weights}: {refused}") from None
        return weights, False
    if weights:
        raise SystemExit(f"--weights {weights}: no bundle there (manifest.json)")
    return None, image_weights(image) != "published"


def run_local(args: argparse.Namespace) -> int:
    """Start everything, generate the example song, then serve until Ctrl-C."""
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    containers: WorkerContainers | None = None
    mounted: str | None = None
    if args.worker == "container":
        mounted, tiny = container_weights(args.weights, args.image)
        weights = mounted or f"the bundle baked into {args.image}"
    else:
        weights, tiny = resolve_weights(args.weights, output)
    if tiny:
        print(f"{BANNER}\n!!! No real weights given (--weights DIR): using a TINY RANDOM TEST MODEL from {weights}.\n"
              f"!!! Everything runs for real, but the songs are NOISE. Fetch real weights with "
              f"`diffrhythm fetch-weights DIR`.\n{BANNER}", flush=True)
    # the frontend's key, imported as the customer "local": its existing X-API-Key flow keeps working
    stack = LocalStack({"CORS_ORIGINS": args.cors_origins}, api_port=args.port, moto_port=args.moto_port,
                       keys={args.api_key: LOCAL_CUSTOMER})
    # Ctrl-C and a stop both raise KeyboardInterrupt, and the finally below cleans up. SIGINT is set too: a process
    # started in the background by a shell inherits it ignored, and Python then never raises KeyboardInterrupt
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    try:
        settings = stack.start_aws()
        if args.worker == "container":
            containers = WorkerContainers(settings, image=args.image, weights=mounted)
            where = f"in container {containers.start().name} ({args.image}: --network host, read-only root)"
        else:
            stack.start_worker(weights)
            where = "on this CPU"
        stack.serve_api()
        resources = stack.resources
        assert resources is not None
        anchor = output / "provenance-anchor.pem"
        anchor.write_text(resources.provenance_anchor)
        print(f"""
DiffRhythm service, running locally
  API        {stack.api_url}   (OpenAPI {stack.api_url}/docs)
  API key    X-API-Key: {args.api_key} (customer "{LOCAL_CUSTOMER}"); its webhooks are signed with
             {stack.webhook_secret(args.api_key)}
  More keys  diffrhythm keys create --customer NAME --endpoint-url {stack.endpoint_url} \\
               --table {resources.keys_table_name} --webhook-secret-id {resources.webhook_secret_id}
  Sign-in    user pool {resources.user_pool_id}, app client {resources.user_pool_client_id} (moto's Cognito)
  Demo page  {stack.api_url}/ui/
  AWS        moto server at {stack.endpoint_url} (bucket {stack.env['BUCKET_NAME']}, table {stack.env['TABLE_NAME']})
  Worker     {where}, weights {weights}{' (TINY RANDOM TEST MODEL)' if tiny else ''}
  Provenance songs are signed (C2PA) with a LOCAL TEST key; check one with
             diffrhythm verify-provenance SONG.wav --anchor {anchor}
""", flush=True)
        if not args.no_demo:
            song = generate_one(stack.api_url, args.api_key, output)
            print(f"saved the finished song: {song}", flush=True)
        print("serving; Ctrl-C stops", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        if containers is not None:
            containers.close()
        stack.stop()
    return 0
