"""``python -m tests.soak.worker``: the real worker loop (``inference_container.worker``) with a SIMULATED song
generator (``tests.support.pipeline.StandInPipeline``: a fraction of a second per group), so hundreds of jobs fit in
minutes on a CPU, and with injected AWS faults (``tests.soak.faults``).

Everything else is the product's: the claim and its lease, the heartbeat, visibility, retries, uploads, failure
records. The harness counts jobs generated twice from the versions of their manifests (the bucket is versioned).
"""

from __future__ import annotations

import os
import random
import sys

from inference_container.worker.job import JobRunner
from inference_container.worker.loop import Worker
from inference_container.worker.settings import WorkerSettings
from shared.aws import client
from shared.store import JobStore
from tests.soak import faults
from tests.support.pipeline import StandInPipeline


def main() -> int:
    seed = int(os.environ.get("SOAK_SEED", "0")) + os.getpid()
    faults.install(float(os.environ.get("SOAK_FAULT_RATE", "0")), seed, os.environ.get("SOAK_FAULT_LOG"))
    settings = WorkerSettings()
    generator = StandInPipeline(seconds=random.Random(seed).uniform(0.2, 0.6), model_name="soak-simulated")
    runner = JobRunner(generator, client("s3", settings), settings.bucket_name)
    worker = Worker(settings, runner, JobStore(client("dynamodb", settings), settings.table_name),
                    client("sqs", settings), device="cpu (soak-simulated)")
    worker.install_signal_handlers()
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
