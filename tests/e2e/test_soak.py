"""The soak test (``tests.soak.run``) at its acceptance size: 200 jobs on the local stack under worker SIGKILLs,
injected AWS faults and dropped status events. Afterwards every job is final and none was generated twice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.soak.run import REPORT_MARK


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_hundred_jobs_under_faults_all_end_final_and_none_twice() -> None:
    run = subprocess.run([sys.executable, "-m", "tests.soak.run", "--jobs", "200", "--json", "--deadline", "600"],
                         capture_output=True, text=True, timeout=840, check=False)
    lines = [line for line in run.stdout.splitlines() if line.startswith(REPORT_MARK)]
    assert lines, run.stderr[-3000:]
    report = json.loads(lines[-1].removeprefix(REPORT_MARK))
    print(report)  # the counts, in the test log
    assert report["submitted"] == 200 and report["lost"] == 0
    assert report["stuck"] == 0 and report["generated_twice"] == 0
    assert report["completed"] + report["cancelled"] + sum(report["failed"].values()) == 200
    # the faults really happened
    assert report["worker_kills"] > 0 and report["injected_faults"] > 0 and report["dropped_events"] > 0
    assert run.returncode == 0, run.stderr[-3000:]
