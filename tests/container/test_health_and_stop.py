"""The image's HEALTHCHECK as docker runs it (healthy idle and working, unhealthy once the watchdog sees a stall) and
``docker stop`` during a job (SIGTERM: the job is handed back within the grace period and another container
finishes it)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from infrastructure.local.container import TaskShape
from shared import keys
from shared.store import JobStore
from tests.conftest import wait_for
from tests.container.conftest import ready


def _now() -> datetime:
    return datetime.now(UTC)


def _checks(container: Any, after: datetime) -> list[dict[str, Any]]:
    """The health checks docker ran (the last few it keeps) that started after ``after``."""
    log = (container.inspect()["State"].get("Health") or {}).get("Log") or []
    return [entry for entry in log if datetime.fromisoformat(entry["Start"]) > after]


def _sampling(api: Any, job_id: str) -> bool:
    status = api.status(job_id)
    return status["status"] == "processing" and (status["progress"] or {}).get("stage") == "sampling"


def _final(api: Any, job_id: str) -> dict[str, Any] | None:
    status = api.status(job_id)
    return status if status["status"] in ("completed", "failed", "cancelled") else None


def test_the_health_check_is_healthy_while_idle_and_while_working(api, containers):
    container = containers.start(health_interval_s=0.5)
    ready(container)
    idle = _now()
    wait_for(lambda: len(_checks(container, idle)) >= 2, timeout=60)
    assert container.health() == "healthy" and all(c["ExitCode"] == 0 for c in _checks(container, idle))
    job_id = api.submit(preset="high")["job_id"]  # 32 steps: the job runs for a few health checks
    wait_for(lambda: _sampling(api, job_id), timeout=300, interval=0.1)
    working, seen = _now(), {}

    def finished() -> dict[str, Any] | None:
        seen.update((c["Start"], c) for c in _checks(container, working))
        return _final(api, job_id)

    status = wait_for(finished, timeout=300, interval=0.2)
    assert status["status"] == "completed"
    ended = datetime.fromisoformat(status["completed_at"])
    during = [c for c in seen.values() if datetime.fromisoformat(c["End"]) < ended]
    assert during and all(c["ExitCode"] == 0 for c in seen.values()), seen
    assert container.health() == "healthy"


def test_the_health_check_turns_unhealthy_when_the_watchdog_sees_a_stall(api, containers):
    # STALL_S far below the job's longest stretches without a progress report (one sampling step of two 285 s rows,
    # then mastering them): the watchdog decides it as it would a hung GPU call; the heartbeat publishes at once
    container = containers.start(env={"STALL_S": "0.5", "HEARTBEAT_S": "0.2"}, health_interval_s=0.5)
    ready(container)
    since, verdicts = _now(), set()
    job_id = api.submit(audio_length=285, batch_size=2, steps=2, auto_master=True)["job_id"]
    try:
        def failed_check() -> list[dict[str, Any]]:
            verdicts.add(container.health())
            return [c for c in _checks(container, since) if c["ExitCode"] != 0]

        failed = wait_for(failed_check, timeout=300, interval=0.1)
        assert failed[0]["ExitCode"] == 1, failed  # the health command's verdict, not a timeout (-1)
        assert "unhealthy" in verdicts or container.health() == "unhealthy"
        wait_for(lambda: "no progress; leases left to lapse" in container.logs(), timeout=60)
    finally:
        containers.close()
        api.delete(f"/api/v1/jobs/{job_id}")  # its message may come back to a later test's worker: skipped then


def test_docker_stop_mid_job_hands_the_job_back_and_another_container_finishes_it(api, containers, aws, settings):
    first = containers.start(env={"GRACE_S": "1"}, health_interval_s=0.5)
    ready(first)
    job_id = api.submit(steps=64)["job_id"]  # far longer than the grace period
    wait_for(lambda: _sampling(api, job_id), timeout=300, interval=0.1)
    stopping = time.monotonic()
    assert first.stop() == 0  # SIGTERM, and the worker exits by itself: no SIGKILL (137)
    assert time.monotonic() - stopping < TaskShape.from_template().stop_timeout_s
    assert "handed_back" in first.logs()
    listed = aws("s3").list_objects_v2(Bucket=settings.bucket_name, Prefix=keys.output_prefix(job_id))
    assert api.status(job_id)["status"] == "processing" and listed.get("KeyCount", 0) == 0  # nothing written
    second = containers.start(health_interval_s=0.5)
    status = wait_for(lambda: _final(api, job_id), timeout=300, interval=0.5)
    assert status["status"] == "completed", (status["error"], second.logs()[-3000:])
    job = JobStore(aws("dynamodb"), settings.table_name).get(job_id)
    assert job is not None and job.attempts == 2  # one hand-back, one completion
    songs = [o for o in status["outputs"] if o["kind"] == "song" and o["format"] == "wav"]
    assert len(songs) == 1 and status["error"] is None
    assert second.running() and second.health() in ("starting", "healthy")
