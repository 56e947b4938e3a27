"""Worker settings: the shared resource names plus what only the worker needs (environment variables)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import Settings


class WorkerSettings(Settings):
    """``WEIGHTS_DIR``, ``DEVICE``, ``HEARTBEAT_S``, ``STALL_S``, ``MAX_ROWS`` ... on top of
    ``shared.settings.Settings`` (whose ``MAX_RUN_S`` the worker enforces: a job group running longer is stopped and
    its jobs fail ``timed_out``)."""

    weights_dir: str = "/opt/diffrhythm/weights"
    device: str = "auto"
    dtype: str = "auto"
    compile: str = Field("auto", description="torch.compile the DiT's blocks: on, off, or auto = on for CUDA and, on "
                         "a CPU, for a full-size DiT (device.resolve_compile)")
    compile_cache: str = Field("", description="A compile cache file to load before compiling (written at image build "
                               "on the fleet's GPU or CPU type by python -m inference_container.diffrhythm.compiled)")
    fp8: bool = Field(False, description="The DiT's block projections in float8 on a GPU with float8 tensor cores "
                      "(L4, H100, H200), kept only within float8.FLOAT8_TOLERANCE of the model's dtype; elsewhere "
                      "ignored with a warning")
    vae_dtype: str = Field("auto", description="The VAE decoder's precision: auto = fp16 on a GPU (kept only within "
                           "vae.HALF_TOLERANCE of fp32), fp32 on a CPU")
    vae_chunk: int = Field(0, ge=0, description="Latent frames per VAE decode window: 0 = the whole song on a GPU "
                           "(smaller after an out-of-memory error), 128 on a CPU")
    lyric_check: bool = Field(True, description="Check whether each sung song sings its lyrics (Whisper on the "
                              "separated vocals) where the bundle has Whisper and the separator; off: no song is "
                              "checked and jobs with min_lyrics_accuracy fail")
    poll_wait_s: int = Field(20, ge=0, le=20, description="SQS long-poll wait")
    serve_host: str = Field("0.0.0.0", description="The address serve mode (SageMaker's /ping and /invocations) "
                            "listens on: every interface in SageMaker; 127.0.0.1 for a container on a host's network")
    visibility_s: int = Field(300, ge=1, description="Visibility granted at each heartbeat")
    heartbeat_s: float = Field(60.0, gt=0, description="How often the message's visibility is extended")
    progress_interval_s: float = Field(2.0, ge=0, description="Least time between two progress writes")
    max_batch: int = Field(1, ge=1, le=10, description="Jobs received at once; compatible ones share a batch")
    grace_s: float = Field(90.0, ge=0, description="On SIGTERM: time to finish the job in hand before handing it back")
    backoff_s: float = Field(1.0, ge=0, description="First wait after a failed receive; doubles up to backoff_max_s")
    backoff_max_s: float = Field(60.0, ge=0, description="Longest wait between receive attempts")
    stall_s: float = Field(600.0, gt=0, description="No progress this long: stop renewing the leases, report unhealthy")
    max_rows: int = Field(8, ge=1, description="Most variations (latent rows) sampled in one call; on a GPU "
                          "fewer where fewer fit in its free memory (measured when the worker starts)")
