"""What the worker tests share: a stand-in pipeline, a job as the API leaves it, and readers of what the worker left."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from inference_container.diffrhythm.pipeline import Song, SongRequest, ranked
from inference_container.errors import InputError
from shared import keys
from shared.contract import GenerateRequest
from shared.records import JobMessage, JobRecord, JobRequestRecord
from shared.states import JobState
from tests.unit.conftest import BUCKET
from tests.unit.fakes import FakeJobTable, FakeObjectStore

RATE = 44100


class StandInPipeline:
    """The two methods the worker uses of ``Pipeline``. Lyrics in ``refuse`` or ``crash`` make it raise (as the real
    pipeline does for bad input, or as a GPU error would); ``during_sampling`` runs between two progress reports.
    ``rows`` lists the rows (variations) of every sampling call, ``batches`` their lyrics. Each variation gets a
    score (``score_of`` its seed) and ranked requests come back best first, as the real pipeline does."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.rows: list[int] = []
        self.refuse: set[str] = set()
        self.crash: set[str] = set()
        self.during_sampling: Callable[[], None] = lambda: None
        self.error: Exception | None = None  # raised by every call when set

    @staticmethod
    def batch_key(request: SongRequest) -> tuple[int, int, float]:
        return request.audio_length, request.steps, request.cfg_strength

    def generate_batch(self, requests: Sequence[SongRequest], progress: Callable[[str, float], None]) -> list[Song]:
        self.batches.append([r.lrc for r in requests])
        self.rows.append(sum(r.variations for r in requests))
        if self.error is not None:
            raise self.error
        if refused := [r.lrc for r in requests if r.lrc in self.refuse]:
            raise InputError(f"cannot sing {refused[0]!r}")
        if any(r.lrc in self.crash for r in requests):
            raise RuntimeError("CUDA error: an illegal memory access (simulated)")
        progress("lyrics", 0.0)
        progress("sampling", 5.0)
        self.during_sampling()
        progress("sampling", 50.0)
        songs = []
        for r in requests:  # variation i sounds at 100 * (seed + i) Hz, so a song tells which seed made it
            tones = [(0.1 * np.sin(2 * np.pi * 100 * (r.seed + i) * np.arange(RATE // 10) / RATE))[:, None]
                     .repeat(2, axis=1).astype(np.float32) for i in range(r.variations)]
            scores = [score_of(r.seed + i) for i in range(r.variations)]
            song = Song(tones, RATE, [], {"seed": r.seed, "seeds": [r.seed + i for i in range(r.variations)],
                                          "scores": scores, "ranked": r.rank, "timings": {"sampling_s": 0.5}},
                        scores=scores)
            songs.append(ranked(song) if r.rank else song)
        return songs


def score_of(seed: int) -> float:
    """The stand-in's score of the variation made from ``seed`` (not monotonic in the seed, so ranking shows)."""
    return round((seed * 0.37) % 1.0, 4)


def queue_job(table: FakeJobTable, s3: FakeObjectStore, lyrics: str = "[00:01.00]hello there",
              status: JobState = JobState.QUEUED, **fields: Any) -> dict[str, Any]:
    """A job as the API leaves it (item, stored request) and the SQS message a worker receives for it."""
    job_id, now = str(uuid.uuid4()), datetime.now(UTC)
    fields.setdefault("style_prompt", None if fields.get("reference_audio_key") else "pop")
    request = GenerateRequest(lyrics=lyrics, preset="preview", **fields)
    stored = JobRequestRecord(**{**request.model_dump(), "seed": 7}, job_id=job_id, owner="owner", lrc=lyrics,
                              submitted_at=now)
    s3.put_object(Bucket=BUCKET, Key=keys.request_key(job_id), Body=stored.model_dump_json().encode(),
                  ContentType="application/json")
    table.jobs[job_id] = JobRecord(
        job_id=job_id, owner="owner", status=status, created_at=now, updated_at=now, enqueued_at=now,
        expires_at=JobRecord.ttl(now, 1), request_key=keys.request_key(job_id), request_sha256="0" * 64,
        audio_length=request.audio_length, batch_size=request.batch_size, output_format=request.output_format,
        seed=7)
    body = JobMessage(job_id=job_id, owner="owner", request_key=keys.request_key(job_id), submitted_at=now)
    return {"Body": body.model_dump_json(), "ReceiptHandle": f"receipt-{job_id}"}


def job_id_of(message: dict[str, Any]) -> str:
    return str(json.loads(message["Body"])["job_id"])


def outputs_of(s3: FakeObjectStore, message: dict[str, Any]) -> set[str]:
    prefix = keys.output_prefix(job_id_of(message))
    return {key[len(prefix):] for key in s3.objects if key.startswith(prefix)}
