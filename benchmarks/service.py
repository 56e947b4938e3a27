"""The service's own overhead on the local stack (``infrastructure.local.stack.LocalStack``, as the tests run it).

    python -m benchmarks.service [--quick] [--clients 50] [--requests 10] [--jobs 10] [--imports 10] [--out DIR]
    python -m benchmarks.service --cold-start-only [--imports 10]

Measures

- **cold start**: in fresh interpreters (median of ``--imports``), ``import functions.api.app``, building the app and
  the first request (``GET /`` as an API Gateway proxy event through the Lambda handler, Mangum and Powertools
  included): what a cold start without SnapStart pays; then, in as many more, the first request after the SnapStart
  hooks (``prime`` before the snapshot, ``refresh`` after the restore): what a restored copy leaves to it. And which
  packages the import spends its time in (``python -X importtime``, one more process). ``--cold-start-only`` stops
  there (no local stack, no worker);
- **submit latency**: ``--clients`` threads, each with its own API key (quotas off), each sending ``--requests``
  ``POST /api/v1/generate`` one after the other, all starting together: p50/p99 of the 202s;
- **queue to start** and **last upload to completed**, with the real worker (``build_worker``) on this CPU over the
  TINY RANDOM bundle, one job at a time: from the client's 202 to the worker's claim (the job's ``started_at``), and
  from the worker's manifest ``PUT`` returning to the job's ``completed_at`` (written by the status function the local
  dispatcher invokes on the manifest's object-created event).

Everything runs in this one process (moto server, API under uvicorn, dispatcher, worker, clients), sharing its GIL
and this machine's cores: these are local-stack figures, an upper bound on the same code's overhead in AWS, not AWS's.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from benchmarks.report import RESULTS, ROOT, environment, result_path, table, write_json

GOAL_COLD_START_MS = 400.0  # the API's import + app + first request in a fresh process (no SnapStart)
GOAL_OVERHEAD_S = 2.0  # local-stack overhead (submit to worker start, last upload to completed)
EVENT = ROOT / "tests" / "events" / "apigateway-aws-proxy.json"  # API Gateway's proxy event, as SAM generates it
# argv: the event's file, then "fresh" (as a cold start without SnapStart) or "primed" (the SnapStart hooks first)
_COLD_START_SNIPPET = """
import json, sys, time
start = time.perf_counter()
import functions.api.app as api
imported = time.perf_counter()
if sys.argv[2] == "primed":
    api.prime()  # before the snapshot
    api.refresh()  # after the restore
primed = time.perf_counter()
app = api.app
built = time.perf_counter()
with open(sys.argv[1]) as file:
    event = json.load(file)
event.update(path="/", httpMethod="GET", body=None, isBase64Encoded=False, pathParameters={"proxy": ""})

class Context:
    function_name, function_version, memory_limit_in_mb = "api", "1", 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api:live"
    aws_request_id, log_group_name, log_stream_name = "benchmark", "/aws/lambda/api", "benchmark"

    def get_remaining_time_in_millis(self):
        return 29_000

ready = time.perf_counter()
response = api.handler(event, Context())
answered = time.perf_counter()
assert response["statusCode"] == 200, response
print(json.dumps({"import_s": imported - start, "prime_s": primed - imported, "build_s": built - primed,
                  "request_s": answered - ready}))
"""


@dataclass(frozen=True)
class Settings:
    clients: int
    requests: int  # per client
    jobs: int  # sequential jobs through the worker
    imports: int  # fresh interpreters timing the import
    quick: bool
    cold_start_only: bool = False


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between the closest ranks (numpy's default).

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    >>> percentile([10.0], 99)
    10.0
    >>> round(percentile(list(range(1, 101)), 99), 2)
    99.01
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Count, p50, p99, min and max (``None`` figures when there are no values).

    >>> summary([3.0, 1.0, 2.0])
    {'n': 3, 'p50': 2.0, 'p99': 2.98, 'min': 1.0, 'max': 3.0}
    """
    if not values:
        return {"n": 0, "p50": None, "p99": None, "min": None, "max": None}
    return {"n": len(values), "p50": percentile(values, 50), "p99": round(percentile(values, 99), 6),
            "min": min(values), "max": max(values)}


def heaviest_imports(importtime: str, top: int = 8) -> list[tuple[str, float]]:
    """From ``python -X importtime`` output, the top-level packages whose own modules took the most time (the sum of
    each module's self time, in ms), heaviest first.

    >>> text = '''import time: self [us] | cumulative | imported package
    ... import time:      1000 |       1000 |     pydantic.fields
    ... import time:      3000 |       4000 |   pydantic
    ... import time:       500 |       4500 | fastapi'''
    >>> heaviest_imports(text)
    [('pydantic', 4.0), ('fastapi', 0.5)]
    """
    totals: Counter[str] = Counter()
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        totals[name.split(".")[0]] += int(own)
    return [(name, round(us / 1000, 1)) for name, us in totals.most_common(top)]


# What Lambda's Python runtime sets for the API function (template.yaml: Tracing Active), so that the libraries take
# their Lambda paths: the X-Ray SDK's recorder samples by the invocation's trace header (LAMBDA_TASK_ROOT set) instead
# of building a botocore X-Ray client for centralised sampling, as it does anywhere else. The trace header is the one
# the runtime sets for a sampled invocation; the daemon address is this machine's (UDP, nothing listens: dropped).
LAMBDA_RUNTIME_ENV = {
    "LAMBDA_TASK_ROOT": str(ROOT), "AWS_LAMBDA_FUNCTION_NAME": "api", "AWS_LAMBDA_FUNCTION_VERSION": "1",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000", "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "_X_AMZN_TRACE_ID": "Root=1-675432a1-3c1f9d0e8b7a6f5e4d3c2b1a;Parent=53995c3f42cd8ad8;Sampled=1",
}


def _import_env() -> dict[str, str]:
    """The environment the API's settings need to build (no connection is made), with this checkout importable, and
    Lambda's runtime variables (``LAMBDA_RUNTIME_ENV``)."""
    from infrastructure.local.stack import LOCAL_ENV

    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    return {**env, **LOCAL_ENV, **LAMBDA_RUNTIME_ENV, "POWERTOOLS_SERVICE_NAME": "api", "PYTHONPATH": str(ROOT)}


def _fresh_process(mode: str, env: dict[str, str]) -> dict[str, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _COLD_START_SNIPPET, str(EVENT), mode], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    process_s = time.perf_counter() - start
    sample: dict[str, float] = {**json.loads(done.stdout.strip().splitlines()[-1]), "process_s": process_s}
    return sample


def cold_import(runs: int) -> dict[str, Any]:
    """Import, app and first request, each in ``runs`` fresh interpreters, as a cold start without SnapStart
    (``runs``) and after the SnapStart hooks (``primed``), alternating; then one ``-X importtime`` run for the
    heaviest packages."""
    env, fresh, primed = _import_env(), [], []
    for _ in range(runs):  # alternating: the machine's load weighs on both alike
        fresh.append(_fresh_process("fresh", env))
        primed.append(_fresh_process("primed", env))
    traced = subprocess.run([sys.executable, "-X", "importtime", "-c", "import functions.api.app"], cwd=ROOT,
                            env=env, capture_output=True, text=True, check=True)
    return {"runs": fresh, "primed_runs": primed, "heaviest_packages_ms": heaviest_imports(traced.stderr)}


class ServerErrors(logging.Filter):
    """Counts and silences the moto server's "Error on request" tracebacks (its in-memory DynamoDB is not safe under
    concurrent transactions and answers 500; botocore retries those, so the submit itself succeeds)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and "Error on request" in str(record.msg):
            self.count += 1
            return False
        return True


def submit_load(api_url: str, tokens: Sequence[str], per_client: int, body: dict[str, Any]) -> dict[str, Any]:
    """Every token's client sends ``per_client`` submits one after the other, all clients starting together."""
    import requests

    barrier = threading.Barrier(len(tokens) + 1)
    latencies: list[float] = []
    statuses: Counter[int | str] = Counter()
    lock = threading.Lock()

    def client(token: str) -> None:
        session = requests.Session()
        session.headers["X-API-Key"] = token
        barrier.wait()
        for _ in range(per_client):
            start = time.perf_counter()
            try:
                status: int | str = session.post(f"{api_url}/api/v1/generate", json=body, timeout=120).status_code
            except requests.RequestException as error:
                status = type(error).__name__
            elapsed = time.perf_counter() - start
            with lock:
                statuses[status] += 1
                if status == 202:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client, args=(token,), daemon=True) for token in tokens]
    server_errors, werkzeug = ServerErrors(), logging.getLogger("werkzeug")
    werkzeug.addFilter(server_errors)
    try:
        for thread in threads:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
    finally:
        werkzeug.removeFilter(server_errors)
    return {"clients": len(tokens), "per_client": per_client, "wall_s": round(wall, 3),
            "statuses": {str(k): v for k, v in statuses.items()}, "moto_500s_retried": server_errors.count,
            "latency_s": summary(latencies),
            "throughput_per_s": round(len(latencies) / wall, 2), "latencies_s": [round(v, 5) for v in latencies]}


def through_worker(stack: Any, token: str, jobs: int, body: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """``jobs`` jobs one at a time through a real worker (TINY RANDOM bundle, this CPU): per job, the client's 202,
    the worker's claim, its manifest PUT and the job's ``completed_at``."""
    import requests

    from inference_container.worker import health
    from inference_container.worker.main import build_worker
    from inference_container.worker.settings import WorkerSettings
    from shared import keys
    from shared.aws import client
    from shared.store import JobStore
    from testing.tiny import make_test_weights

    started = time.perf_counter()
    bundle = make_test_weights(workdir / "tiny-bundle")
    health.HEALTH_FILE = str(workdir / "worker.alive")  # not the machine-wide default a real worker may be using
    # poll 5 s: SQS (and moto) answer a long poll as soon as a message arrives, so the wait does not change pickup
    settings = WorkerSettings(weights_dir=str(bundle), device="cpu", poll_wait_s=5, heartbeat_s=10, visibility_s=120,
                              progress_interval_s=0.5)
    worker = build_worker(settings)
    load_s = time.perf_counter() - started
    puts: dict[str, float] = {}

    def remember_key(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["benchmark_key"] = params.get("Key", "")

    def stamp_put(context: dict[str, Any], **_: Any) -> None:  # every PUT's return, by key
        puts[str(context.get("benchmark_key", ""))] = time.time()

    events = worker.runner.s3.meta.events
    events.register("before-parameter-build.s3.PutObject", remember_key)
    events.register("after-call.s3.PutObject", stamp_put)
    thread = threading.Thread(target=worker.run, name="benchmark-worker", daemon=True)
    thread.start()
    store = JobStore(client("dynamodb", stack.settings), stack.settings.table_name)
    session = requests.Session()
    session.headers["X-API-Key"] = token
    rows = []
    try:
        for _ in range(jobs):
            sent = time.time()
            response = session.post(f"{stack.api_url}/api/v1/generate", json=body, timeout=60)
            accepted = time.time()
            response.raise_for_status()
            job_id = response.json()["job_id"]
            deadline = time.monotonic() + 300  # guards a hang only
            while (record := store.get(job_id)) is None or not record.status.is_final:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"job {job_id} did not finish within 300 s")
                time.sleep(0.02)
            rows.append(job_timeline(job_id, str(record.status), sent, accepted, record.enqueued_at,
                                     record.started_at, puts.get(keys.manifest_key(job_id)), record.completed_at))
    finally:
        worker.stop(grace_s=0)
        thread.join(timeout=settings.poll_wait_s + 10)
    model = str(getattr(worker.runner.pipeline, "model_name", "unknown"))  # the Pipeline's; not in SongGenerator
    return {"worker_load_s": round(load_s, 2), "device": "cpu", "model": model,
            "request": body, "jobs": rows, **{name: summary([row[name] for row in rows if row[name] is not None])
                                              for name in INTERVALS}}


INTERVALS = {  # name: what it is, for the table (in this order)
    "submit_to_start_s": "submit sent -> worker claims the job",
    "enqueued_to_start_s": "message sent -> worker claims (the queue's pickup)",
    "accepted_to_start_s": "202 received -> worker claims (< 0: claimed first)",
    "upload_to_completed_s": "manifest PUT returned -> completed_at",
    "overhead_s": "overhead: submit -> claim + manifest PUT -> completed",
    "start_to_upload_s": "claim -> manifest PUT (the tiny model; not overhead)",
}


def job_timeline(job_id: str, status: str, sent: float, accepted: float, enqueued: datetime | None,
                 started: datetime | None, manifest_put: float | None, completed: datetime | None) -> dict[str, Any]:
    """One job's intervals in seconds (``None`` where a moment is missing), from the client's clock (``sent``,
    ``accepted``, ``manifest_put``: epoch seconds) and the job record's (the same machine's clock).

    >>> from datetime import UTC
    >>> at = lambda s: datetime.fromtimestamp(s, UTC)
    >>> row = job_timeline("j", "completed", 100.0, 100.3, at(100.2), at(100.25), 110.0, at(110.1))
    >>> {k: round(v, 2) for k, v in row.items() if k in INTERVALS}  # doctest: +NORMALIZE_WHITESPACE
    {'submit_to_start_s': 0.25, 'enqueued_to_start_s': 0.05, 'accepted_to_start_s': -0.05,
     'upload_to_completed_s': 0.1, 'overhead_s': 0.35, 'start_to_upload_s': 9.75}
    """
    def between(later: float | None, earlier: float | None) -> float | None:
        return None if later is None or earlier is None else later - earlier

    start, done = (None if t is None else t.timestamp() for t in (started, completed))
    to_start, to_done = between(start, sent), between(done, manifest_put)
    return {"job_id": job_id, "status": status, "submit_to_start_s": to_start,
            "enqueued_to_start_s": between(start, None if enqueued is None else enqueued.timestamp()),
            "accepted_to_start_s": between(start, accepted), "upload_to_completed_s": to_done,
            "overhead_s": None if to_start is None or to_done is None else to_start + to_done,
            "start_to_upload_s": between(manifest_put, start)}


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value * 1e3:.0f}"


def _s(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _goal(value: float | None, limit: float) -> str:
    return "" if value is None else ("met" if value <= limit else "NOT met")


def tables(data: dict[str, Any]) -> str:
    """The import, submit and worker tables."""
    out = []
    if imports := data.get("cold_import"):
        runs, primed = imports["runs"], imports.get("primed_runs", [])
        rows = []
        for name, values in (
                ("import functions.api.app", [r["import_s"] for r in runs]),
                ("build the app", [r["build_s"] for r in runs]),
                ("first request (GET / via the handler)", [r["request_s"] for r in runs]),
                ("import + app + first request", [r["import_s"] + r["build_s"] + r["request_s"] for r in runs]),
                ("interpreter start to exit", [r["process_s"] for r in runs]),
                ("SnapStart: prime() + refresh()", [r["prime_s"] for r in primed]),
                ("SnapStart: first request after them", [r["build_s"] + r["request_s"] for r in primed])):
            if not values:
                continue
            median = statistics.median(values)
            goal = ""
            if name == "import + app + first request":
                goal = (f"<= {GOAL_COLD_START_MS:.0f} ms: {_goal(median, GOAL_COLD_START_MS / 1e3)} "
                        f"({median * 1e3 / GOAL_COLD_START_MS:.1f}x the goal)")
            rows.append([name, len(values), _ms(median), _ms(min(values)), _ms(max(values)), goal])
        out.append(f"API cold start, fresh interpreters, ms (median of {len(runs)}):\n"
                   + table(["what", "runs", "median", "min", "max", "goal"], rows))
        out.append("Where the import spends its time (own modules of each top-level package, one -X importtime run):\n"
                   + table(["package", "ms"], imports["heaviest_packages_ms"]))
    if load := data.get("submit"):
        lat = load["latency_s"]
        errors = {k: v for k, v in load["statuses"].items() if k != "202"}
        out.append(f"Submit latency, {load['clients']} concurrent clients (one API key each), {load['per_client']} "
                   f"submits each, ms:\n" + table(
                       ["clients", "submits", "202s", "other", "p50", "p99", "max", "submits/s", "moto 500s"],
                       [[load["clients"], load["clients"] * load["per_client"], lat["n"],
                         ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0", _ms(lat["p50"]), _ms(lat["p99"]),
                         _ms(lat["max"]), load["throughput_per_s"], load["moto_500s_retried"]]]))
    if worker := data.get("worker"):
        rows = [[what, worker[name]["n"], _s(worker[name]["p50"]), _s(worker[name]["p99"]), _s(worker[name]["max"]),
                 f"<= {GOAL_OVERHEAD_S:.0f} s: p50 {_goal(worker[name]['p50'], GOAL_OVERHEAD_S)}, max "
                 f"{_goal(worker[name]['max'], GOAL_OVERHEAD_S)}" if name == "overhead_s" else ""]
                for name, what in INTERVALS.items()]
        model = "tiny random" if "TINY" in worker["model"] else worker["model"]
        out.append(f"Local-stack overhead, one job at a time through the real worker ({model} bundle on the CPU, "
                   f"built in {worker['worker_load_s']} s), s:\n"
                   + table(["interval", "jobs", "p50", "p99", "max", "goal"], rows))
    return "\n\n".join(out)


def parse(argv: Sequence[str] | None = None) -> tuple[Settings, Path, str | None]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.service", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 submits per client, 3 jobs, 5 imports")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients, one API key each")
    parser.add_argument("--requests", type=int, help="submits per client (default 10; --quick: 2)")
    parser.add_argument("--jobs", type=int, help="jobs through the worker, one at a time (default 10; --quick: 3)")
    parser.add_argument("--imports", type=int, help="fresh interpreters timing the import (default 10; --quick: 5)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON (default benchmarks/results)")
    parser.add_argument("--commit", help="the git commit to record instead of asking git")
    parser.add_argument("--cold-start-only", action="store_true",
                        help="only the API's cold start (no local stack, no worker)")
    args = parser.parse_args(argv)
    quick = args.quick
    settings = Settings(clients=args.clients, requests=args.requests or (2 if quick else 10),
                        jobs=args.jobs or (3 if quick else 10), imports=args.imports or (5 if quick else 10),
                        quick=quick, cold_start_only=args.cold_start_only)
    if min(settings.clients, settings.requests, settings.jobs, settings.imports) < 1:
        parser.error("--clients, --requests, --jobs and --imports must be at least 1")
    return settings, args.out, args.commit


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    settings, out, commit = parse(argv)
    started = time.perf_counter()
    device = torch.device("cpu")
    path = result_path(out, "service", device, "quick" if settings.quick else "")
    data: dict[str, Any] = {"benchmark": "service", "environment": environment(device, commit),
                            "settings": asdict(settings)}
    env = data["environment"]
    print(f"{env['device_name']} · commit {env['git']['commit'][:12]} · {asdict(settings)}", flush=True)

    data["cold_import"] = cold_import(settings.imports)  # first: nothing else of ours is running yet
    print(f"cold start: {2 * len(data['cold_import']['runs'])} runs in {time.perf_counter() - started:.0f} s",
          flush=True)
    if settings.cold_start_only:
        path = result_path(out, "service", device, "cold_start")
        write_json(path, data)
        print("\n" + tables(data) + f"\n\n{path}", flush=True)
        return data

    from infrastructure.local.stack import LocalStack
    from shared.contract import FRONTEND_EXAMPLE, MIN_STEPS

    tokens = [f"bench-client-{i:03d}-{'x' * 12}" for i in range(settings.clients)]
    worker_token = f"bench-worker-{'x' * 16}"
    keys = {token: f"bench-{i:03d}" for i, token in enumerate(tokens)} | {worker_token: "bench-worker"}
    with tempfile.TemporaryDirectory(prefix="benchmark-service-") as tmp, \
            LocalStack({"RATE_LIMIT_PER_HOUR": "0", "JOBS_PER_HOUR": "0"}, keys=keys) as stack:
        print(f"local stack up at {time.perf_counter() - started:.0f} s", flush=True)
        # worker first, on an empty queue; the load's jobs then stay queued (no worker polls by then)
        fastest = {**FRONTEND_EXAMPLE, "preset": "preview", "steps": MIN_STEPS}  # the least model time per job
        data["worker"] = through_worker(stack, worker_token, settings.jobs, fastest, Path(tmp))
        print(f"worker: {settings.jobs} jobs done at {time.perf_counter() - started:.0f} s", flush=True)
        data["submit"] = submit_load(stack.api_url, tokens, settings.requests, dict(FRONTEND_EXAMPLE))
        print(f"submit load: done at {time.perf_counter() - started:.0f} s", flush=True)
    data["elapsed_s"] = round(time.perf_counter() - started, 1)
    write_json(path, data)
    print("\n" + tables(data) + f"\n\n{path} ({data['elapsed_s']:.0f} s)", flush=True)
    return data


if __name__ == "__main__":
    main()
