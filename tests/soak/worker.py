"""``python -m tests.soak.worker``: the real worker loop (``inference_container.worker``) with a SIMULATED song
generator, so hundreds of jobs fit in minutes on a CPU, and with injected AWS faults (``tests.soak.faults``).

Everything else is the product's: the claim and its lease, the heartbeat, visibility, retries, uploads, failure
records. The harness counts jobs generated twice from the versions of their manifests (the bucket is versioned).
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Sequence

import numpy as np

from inference_container.diffrhythm.pipeline import Progress, Song, SongRequest
from inference_container.worker.job import JobRunner
from inference_container.worker.loop import Worker
from inference_container.worker.settings import WorkerSettings
from shared.aws import client
from shared.jobs import JobStore
from tests.soak import faults

RATE = 8000


class SimulatedGenerator:
    """Stands in for the DiT and the VAE: a short sine per variation after a few progress steps."""

    model_name = "soak-simulated"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def batch_key(self, request: SongRequest) -> tuple[int, int, float]:
        return request.audio_length, request.steps, request.cfg_strength

    def generate_batch(self, requests: Sequence[SongRequest], progress: Progress | None = None) -> list[Song]:
        steps = 5
        for step in range(steps):
            if progress is not None:
                progress("sampling", 5 + 80 * step / steps)
            time.sleep(self.seconds / steps)
        tone = np.sin(np.linspace(0, 440 * 2 * np.pi, RATE // 2, dtype=np.float32))[:, None].repeat(2, axis=1)
        return [Song(audio=[0.1 * tone] * request.variations, rate=RATE, warnings=[],
                     metadata={"model": self.model_name}) for request in requests]


def main() -> int:
    seed = int(os.environ.get("SOAK_SEED", "0")) + os.getpid()
    faults.install(float(os.environ.get("SOAK_FAULT_RATE", "0")), seed, os.environ.get("SOAK_FAULT_LOG"))
    settings = WorkerSettings()
    generator = SimulatedGenerator(random.Random(seed).uniform(0.2, 0.6))
    runner = JobRunner(generator, client("s3", settings), settings.bucket_name)
    worker = Worker(settings, runner, JobStore(client("dynamodb", settings), settings.table_name),
                    client("sqs", settings), device="cpu (soak-simulated)")
    worker.install_signal_handlers()
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
