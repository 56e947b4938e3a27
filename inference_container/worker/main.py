"""Build a worker from the environment (and run it: ``python -m inference_container worker``)."""

from __future__ import annotations

from inference_container.audio.credentials import ContentSigner, SigningKey
from inference_container.diffrhythm.device import resolve_device
from inference_container.diffrhythm.pipeline import Pipeline
from inference_container.worker.job import JobRunner
from inference_container.worker.loop import Worker, logger
from inference_container.worker.settings import WorkerSettings
from shared.aws import client
from shared.secrets import secrets
from shared.store import JobStore


def build_worker(settings: WorkerSettings | None = None, pipeline: Pipeline | None = None) -> Worker:
    """Load the models once and wire the worker to the settings' queue, table and bucket."""
    settings = settings or WorkerSettings()
    device = resolve_device(settings.device)
    if pipeline is None:
        pipeline = Pipeline.load(settings.weights_dir, device=device, dtype=settings.dtype, compile=settings.compile,
                                 compile_cache=settings.compile_cache or None, fp8=settings.fp8,
                                 vae_dtype=settings.vae_dtype,
                                 vae_chunk=settings.vae_chunk, lyric_check=settings.lyric_check)
    if pipeline.model_name != "diffrhythm":
        logger.warning(f"!!! {pipeline.model_name}: songs from this worker are noise !!!")
    settings = settings.model_copy(update={"max_rows": pipeline.row_capacity(settings.max_rows)})
    runner = JobRunner(pipeline, client("s3", settings), settings.bucket_name, signer(settings))
    store = JobStore(client("dynamodb", settings), settings.table_name)
    label = device if pipeline.model_name == "diffrhythm" else f"{device} ({pipeline.model_name})"
    return Worker(settings, runner, store, client("sqs", settings), device=label)


def signer(settings: WorkerSettings) -> ContentSigner | None:
    """The signer of every song's C2PA manifest, from the deployment's key in Secrets Manager; None (and a warning)
    where no secret is configured. A secret that cannot be read or used stops the worker: a deployment error."""
    if not settings.content_credentials_secret_id:
        logger.warning("CONTENT_CREDENTIALS_SECRET_ID is not set: songs carry no signed provenance (C2PA)")
        return None
    return ContentSigner(SigningKey.from_secret(secrets(settings)(settings.content_credentials_secret_id)))


def serve(port: int = 8080) -> int:
    """SageMaker mode: serve /ping and /invocations until SIGTERM."""
    import signal
    import threading

    from inference_container.worker.sagemaker import make_server

    settings = WorkerSettings()
    worker = build_worker(settings)
    server = make_server(worker, host=settings.serve_host, port=port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    logger.info("serving SageMaker endpoints", extra={"host": settings.serve_host, "port": port})
    server.serve_forever()
    return 0


def run(max_messages: int | None = None) -> int:
    """The worker process: signal handlers, then poll until SIGTERM."""
    worker = build_worker()
    worker.install_signal_handlers()
    worker.run(max_messages)
    logger.info("worker stopped", extra={"stats": worker.stats})
    return 0
