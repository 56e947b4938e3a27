"""``python -m tests.soak.run``: a bounded, self-stopping soak of the local stack.

It starts the local stack (moto server, API, event dispatcher with the reconciler) and several worker processes
(``tests.soak.worker``: the real worker loop with a SIMULATED generator), submits jobs from concurrent clients (a share
of them cancelled soon after), and meanwhile:

- SIGKILLs a random worker (one up long enough to hold jobs) every few seconds of a chaos window, and starts a new
  one;
- injects S3, SQS and DynamoDB errors into a share of the calls of the workers, the API, the status function and the
  reconciler (``tests.soak.faults``); clients retry a 5xx with the same Idempotency-Key, as a client should;
- drops a share of the bucket's object-created events before the status function sees them.

When every job is final, or the deadline passes, it stops and prints the counts: submitted, completed, failed by
error code, cancelled, generated twice (a job whose manifest was written more than once: the bucket is versioned) and
stuck (not final). The exit status is 0 only when none is stuck, none was generated twice and none was lost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

KEY = "soak-key-0123456789abcdef"
REPORT_MARK = "SOAK REPORT "
MIN_WORKER_AGE_S = 15.0  # a worker this old has imported, polled and probably claimed jobs
STACK_ENV = {
    "RATE_LIMIT_PER_HOUR": "0", "JOBS_PER_HOUR": "0",
    # the control plane's time limits, shortened so the reconciler acts within the soak
    "ORPHAN_AFTER_S": "5", "STALE_AFTER_S": "5", "MAX_RUN_S": "60",
}
WORKER_ENV = {
    "POLL_WAIT_S": "1", "HEARTBEAT_S": "1", "VISIBILITY_S": "5", "PROGRESS_INTERVAL_S": "0.2", "GRACE_S": "2",
    "BACKOFF_S": "0.2", "BACKOFF_MAX_S": "2", "MAX_BATCH": "2", "POWERTOOLS_LOG_LEVEL": "ERROR",
}
REQUEST = {"lyrics": "[00:10.00]Soak test line one\n[00:20.00]Soak test line two", "style_prompt": "calm piano",
           "audio_length": 95, "preset": "preview"}


@dataclass
class Report:
    """What the soak saw."""

    submitted: int = 0
    completed: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    cancelled: int = 0
    generated_twice: int = 0
    stuck: int = 0
    lost: int = 0
    worker_kills: int = 0
    injected_faults: int = 0
    dropped_events: int = 0
    client_retries: int = 0
    seconds: float = 0.0
    seed: int = 0  # --seed replays the harness's choices (kills, drops, cancels)

    @property
    def ok(self) -> bool:
        return self.stuck == 0 and self.generated_twice == 0 and self.lost == 0


class Soak:
    """One soak run; see the module docstring."""

    def __init__(self, jobs: int, workers: int, fault_rate: float, drop_rate: float, cancel_rate: float,
                 chaos_s: float, deadline_s: float, seed: int, logs: Path) -> None:
        self.jobs, self.workers, self.fault_rate, self.chaos_s = jobs, workers, fault_rate, chaos_s
        self.drop_rate, self.cancel_rate, self.deadline_s = drop_rate, cancel_rate, deadline_s
        self.rng = random.Random(seed)
        self.seed, self.logs = seed, logs
        self.fault_log = logs / "faults.log"
        self.report = Report(seed=seed)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.job_ids: list[str] = []
        self._lock = threading.Lock()
        self._chaos = threading.Event()
        self._undo: list[Callable[[], None]] = []
        self._born: dict[int, float] = {}

    # -- the stack -------------------------------------------------------------------------------------------------
    def run(self) -> Report:
        from infrastructure.local.stack import LocalStack
        from tests.soak import faults

        started = time.monotonic()
        stack = LocalStack(env=STACK_ENV, keys={KEY: "soak"})
        self._drop_status_events()  # before the dispatcher picks up the status function
        try:
            self.settings = stack.start_aws()
            # from here on, every client the API, the status function and the reconciler build is faulty
            faults.install(self.fault_rate, self.seed, str(self.fault_log))
            stack.serve_api()
            assert stack.dispatcher is not None
            stack.dispatcher.reconcile_every_s = 2.0
            self.s3 = boto3.client("s3", endpoint_url=stack.endpoint_url, region_name=self.settings.aws_region)
            self.table = boto3.client("dynamodb", endpoint_url=stack.endpoint_url,
                                      region_name=self.settings.aws_region)
            self.s3.put_bucket_versioning(Bucket=self.settings.bucket_name,
                                          VersioningConfiguration={"Status": "Enabled"})
            for _ in range(self.workers):
                self._start_worker()
            killer = threading.Thread(target=self._kill_workers, daemon=True)
            killer.start()
            self._submit_all(stack.api_url)
            self._wait_until_final(started)
            self._chaos.set()
            killer.join()
            self._count()
        finally:
            self._chaos.set()
            for process in self.processes:
                process.kill()
                process.wait()
            stack.stop()
            for undo in self._undo:
                undo()
        self.report.seconds = round(time.monotonic() - started, 1)
        return self.report

    def _drop_status_events(self) -> None:
        """A share of the object-created events never reaches the status function (as if Lambda gave up on them)."""
        from functions.status import handler as status

        deliver = status.handler

        def lossy(event: dict[str, Any], context: Any) -> Any:
            with self._lock:
                dropped = self.rng.random() < self.drop_rate
                self.report.dropped_events += dropped
            return None if dropped else deliver(event, context)

        status.handler = lossy
        self._undo.append(lambda: setattr(status, "handler", deliver))

    # -- workers ---------------------------------------------------------------------------------------------------
    def _start_worker(self) -> None:
        env = {**os.environ, **WORKER_ENV, "SOAK_FAULT_RATE": str(self.fault_rate), "SOAK_SEED": str(self.seed),
               "SOAK_FAULT_LOG": str(self.fault_log)}
        log = open(self.logs / f"worker-{len(self.processes)}.log", "wb")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen([sys.executable, "-m", "tests.soak.worker"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        self._born[process.pid] = time.monotonic()
        self.processes.append(process)

    def _kill_workers(self) -> None:
        """Every few seconds of the chaos window, SIGKILL a worker that has been up long enough to hold jobs (its start
        takes seconds on a busy machine: killing it sooner would only starve the queue), and start another."""
        while not self._chaos.wait(self.rng.uniform(3.0, 8.0)):
            now = time.monotonic()
            ready = [p for p in self.processes if p.poll() is None and now - self._born[p.pid] > MIN_WORKER_AGE_S]
            if not ready:
                continue
            victim = self.rng.choice(ready)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            self.report.worker_kills += 1
            self._start_worker()

    # -- clients ---------------------------------------------------------------------------------------------------
    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One API call, retried on a 5xx or a dropped connection as a client would (same Idempotency-Key)."""
        for _ in range(20):
            try:
                response = requests.request(method, url, headers={"X-API-Key": KEY, **kwargs.pop("headers", {})},
                                            timeout=30, **kwargs)
            except requests.ConnectionError:
                response = None
            if response is not None and response.status_code < 500:
                return response
            with self._lock:
                self.report.client_retries += 1
            time.sleep(0.2)
        raise RuntimeError(f"{method} {url} kept failing")

    def _submit_one(self, base: str, index: int) -> None:
        response = self._call("POST", f"{base}/api/v1/generate", json={**REQUEST, "seed": index},
                              headers={"Idempotency-Key": f"soak-{self.seed}-{index}"})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        with self._lock:
            self.job_ids.append(job_id)
        if self.rng.random() < self.cancel_rate:
            time.sleep(self.rng.uniform(0, 2))
            cancel = self._call("DELETE", f"{base}/api/v1/jobs/{job_id}")
            assert cancel.status_code in (200, 409), cancel.text

    def _submit_all(self, base: str) -> None:
        with ThreadPoolExecutor(8) as pool:
            for future in [pool.submit(self._submit_one, base, i) for i in range(self.jobs)]:
                future.result()
        self.report.submitted = len(set(self.job_ids))

    # -- results ---------------------------------------------------------------------------------------------------
    def _jobs(self) -> dict[str, dict[str, Any]]:
        found = {}
        for job_id in self.job_ids:
            item = self.table.get_item(TableName=self.settings.table_name, Key={"pk": {"S": f"job#{job_id}"}},
                                       ConsistentRead=True).get("Item")
            found[job_id] = {k: next(iter(v.values())) for k, v in item.items()} if item else {}
        return found

    def _wait_until_final(self, started: float) -> None:
        final = {"COMPLETED", "FAILED", "CANCELLED"}
        while time.monotonic() - started < self.deadline_s:
            jobs = self._jobs()
            waiting = sum(job.get("status") not in final for job in jobs.values())
            if not waiting:
                return
            if waiting < len(jobs) // 10 or time.monotonic() - started > self.chaos_s:
                self._chaos.set()  # the chaos window ends: the last jobs are not starved by kills
            time.sleep(2)

    def _count(self) -> None:
        jobs = self._jobs()
        failed: Counter[str] = Counter()
        for job in jobs.values():
            status = job.get("status")
            if not job:
                self.report.lost += 1
            elif status == "COMPLETED":
                self.report.completed += 1
            elif status == "CANCELLED":
                self.report.cancelled += 1
            elif status == "FAILED":
                failed[job.get("error_code") or "unknown"] += 1
            else:
                self.report.stuck += 1
        self.report.failed = dict(failed)
        manifests: Counter[str] = Counter()
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.settings.bucket_name,
                                                                          Prefix="outputs/"):
            for version in page.get("Versions", []):
                if version["Key"].endswith("/result.json"):
                    manifests[version["Key"].split("/")[1]] += 1
        self.report.generated_twice = sum(count > 1 for count in manifests.values())
        self.report.injected_faults = len(self.fault_log.read_text().splitlines()) if self.fault_log.exists() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--fault-rate", type=float, default=0.01, help="share of AWS calls that fail")
    parser.add_argument("--drop-rate", type=float, default=0.1, help="share of object-created events dropped")
    parser.add_argument("--cancel-rate", type=float, default=0.1, help="share of jobs cancelled after submission")
    parser.add_argument("--chaos", type=float, default=240.0, help="seconds from the start during which workers are "
                        "killed (faults and drops go on to the end)")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds before the soak stops waiting")
    parser.add_argument("--seed", type=int, default=int(uuid.uuid4().int % 10_000))
    parser.add_argument("--json", action="store_true", help=f"print the report as one JSON line after {REPORT_MARK!r}")
    parser.add_argument("--verbose", action="store_true", help="keep the stack's error logs (faults log many)")
    args = parser.parse_args(argv)
    if not args.verbose:  # before the handlers' loggers exist
        os.environ["POWERTOOLS_LOG_LEVEL"] = "CRITICAL"
    with tempfile.TemporaryDirectory(prefix="soak-") as logs:
        report = Soak(args.jobs, args.workers, args.fault_rate, args.drop_rate, args.cancel_rate, args.chaos,
                      args.deadline, args.seed, Path(logs)).run()
    if args.json:  # one line, marked: the stack's own output (metrics) shares stdout
        print(REPORT_MARK + json.dumps(asdict(report)))
    else:
        for name, value in asdict(report).items():
            print(f"{name:>16}: {value}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
