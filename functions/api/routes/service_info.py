"""Service-level endpoints: ``/``, health, queue and Prometheus metrics."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from functions.api.deps import CallerDep, SettingsDep, StatsDep
from shared.records import utcnow
from shared.responses import HealthResponse, QueueResponse, RootResponse

router = APIRouter(tags=["service"])
HEARTBEAT_FRESH = timedelta(minutes=2)


@router.get("/", response_model=RootResponse)
def root(request: Request, settings: SettingsDep) -> RootResponse:
    """What this service is and its endpoints."""
    paths = request.app.openapi()["paths"]
    endpoints = {f"{method.upper()} {path}": operation.get("summary", "")
                 for path, operations in paths.items() for method, operation in operations.items()}
    return RootResponse(service="DiffRhythm song generation", version=settings.service_version, status="running",
                        endpoints=endpoints)


@router.get("/api/v1/health", response_model=HealthResponse)
def health(stats: StatsDep, settings: SettingsDep) -> HealthResponse:
    """``healthy`` when the queue and the job table answer. ``models_loaded``: a GPU worker reported in the last
    two minutes (workers scale to zero, so false is normal when idle); ``device``: that worker's device."""
    try:
        queued = stats.queued()
        in_flight = stats.messages()["in_flight"]
        beat = stats.last_heartbeat()
    except Exception:  # any dependency failure degrades health rather than failing it
        return HealthResponse(status="degraded", models_loaded=False, device="unknown", queue_length=0,
                              active_jobs=0, version=settings.service_version)
    alive = beat is not None and utcnow() - beat[0] < HEARTBEAT_FRESH
    return HealthResponse(status="healthy", models_loaded=alive,
                          device=beat[1] if alive and beat else "none: GPU workers start on demand",
                          queue_length=queued, active_jobs=in_flight, version=settings.service_version)


@router.get("/api/v1/queue", response_model=QueueResponse)
def queue(stats: StatsDep, caller: CallerDep) -> QueueResponse:
    """Jobs waiting, the caller's job being generated (if any) and the wait for a new job."""
    queued = stats.queued()
    return QueueResponse(queue_length=queued, current_job=stats.current_job(caller.owner),
                         estimated_wait_minutes=stats.wait_minutes(queued), in_flight=stats.messages()["in_flight"])


@router.get("/api/v1/metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}}}, 404: {"description": "Metrics are disabled"}})
def prometheus_metrics(stats: StatsDep, settings: SettingsDep, _caller: CallerDep) -> PlainTextResponse:
    """Prometheus text exposition of queue depth and job counters."""
    if not settings.metrics_enabled:
        raise HTTPException(404, "metrics are disabled (METRICS_ENABLED=false)")
    registry = CollectorRegistry()
    messages = Gauge("diffrhythm_queue_messages", "Messages in the job queue", ["state"], registry=registry)
    for state, count in stats.messages().items():
        messages.labels(state=state).set(count)
    Gauge("diffrhythm_jobs_queued", "Jobs waiting for a worker", registry=registry).set(stats.queued())
    jobs = Gauge("diffrhythm_jobs_reached_total", "Jobs that reached each state", ["state"], registry=registry)
    for state, count in stats.reached().items():
        jobs.labels(state=state).set(count)
    return PlainTextResponse(generate_latest(registry).decode(), media_type=CONTENT_TYPE_LATEST)
