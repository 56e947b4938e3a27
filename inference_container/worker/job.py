"""One job: read its request from S3, generate, write the outputs and, last, the manifest (or a failure record)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import soundfile
from botocore.exceptions import ClientError

from inference_container.diffrhythm.outputs import render
from inference_container.diffrhythm.pipeline import Progress, Song, SongRequest
from inference_container.errors import InputError
from shared import keys
from shared.contract import OutputFormat
from shared.records import FailureCode, JobRequestRecord, ManifestOutput, OutputManifest
from shared.storage import put_failure, put_json


class SongGenerator(Protocol):
    """What the worker needs of ``inference_container.diffrhythm.pipeline.Pipeline`` (tests pass a stand-in)."""

    def batch_key(self, request: SongRequest) -> tuple[int, int, float]: ...

    def generate_batch(self, requests: Sequence[SongRequest], progress: Progress | None = None) -> list[Song]: ...


class JobFailedError(Exception):
    """A permanent failure: retrying cannot help. ``reason`` is for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class JobRunner:
    """Runs jobs through a loaded pipeline against one bucket."""

    pipeline: SongGenerator
    s3: Any
    bucket: str

    def load_request(self, key: str) -> JobRequestRecord:
        """The stored request of a job."""
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return JobRequestRecord.model_validate_json(body)

    def _audio(self, key: str, field: str) -> tuple[Any, int]:
        """An uploaded clip. A file that is gone or is not audio is the user's to fix; any other error reading it
        (throttling, a network fault) is retried."""
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                raise JobFailedError(f"{field}: {key} no longer exists; upload the file again") from error
            raise
        try:
            audio, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except (RuntimeError, ValueError) as error:  # libsndfile errors are RuntimeErrors
            raise JobFailedError(f"{field}: {key} could not be read as audio ({type(error).__name__})") from error
        return audio, rate

    def song_request(self, request: JobRequestRecord) -> SongRequest:
        """The pipeline's request for a stored job request."""
        sampling = request.sampling()
        edit = request.edit
        return SongRequest(
            lrc=request.lrc, audio_length=request.audio_length, style_prompt=request.style_prompt,
            style_audio=self._audio(request.reference_audio_key, "reference_audio_key")
            if request.reference_audio_key else None,
            seed=request.seed, variations=request.batch_size, steps=sampling.steps,
            cfg_strength=sampling.cfg_strength,
            edit_audio=self._audio(edit.reference_audio_key, "edit.reference_audio_key") if edit else None,
            edit_segments=[list(s) for s in edit.segments] if edit else None,
            auto_master=request.auto_master, master_preset=request.master_preset.value,
        )

    def generate(self, requests: list[SongRequest], progress: Progress) -> list[Song]:
        """Generate one or several (batch-compatible) requests; the user's errors (``InputError``) become
        ``JobFailedError``, anything else propagates (and is retried)."""
        try:
            return self.pipeline.generate_batch(requests, progress)
        except InputError as error:
            raise JobFailedError(str(error)) from error

    def upload(self, request: JobRequestRecord, song: Song, seconds: float) -> OutputManifest:
        """Write a job's files, then its manifest last (its arrival completes the job)."""
        formats = tuple(dict.fromkeys((OutputFormat.WAV, request.output_format)))
        outputs = []
        for item in render(song, formats):
            key = keys.output_prefix(request.job_id) + item.name
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=item.data, ContentType=item.content_type)
            if item.format is not None and item.index is not None and item.duration_s is not None:
                outputs.append(ManifestOutput(index=item.index, format=item.format, key=key,
                                              duration_s=item.duration_s, sample_rate=song.rate, channels=2))
        metadata = {**song.metadata, "warnings": song.warnings, "job_seconds": round(seconds, 3)}
        manifest = OutputManifest(job_id=request.job_id, outputs=outputs, duration_s=outputs[0].duration_s,
                                  metadata=metadata)
        put_json(self.s3, self.bucket, keys.manifest_key(request.job_id), manifest)
        return manifest

    def fail(self, job_id: str, reason: str, code: FailureCode = "generation_failed") -> None:
        """Write the failure record (its arrival fails the job)."""
        put_failure(self.s3, self.bucket, job_id, code, reason)
