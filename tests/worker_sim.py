"""A simulated GPU worker for control-plane tests: takes the job's message, writes outputs like the real worker."""

from __future__ import annotations

import io
import math
import struct
import time
import wave
from typing import Any

from shared import keys
from shared.formats import OutputFormat
from shared.records import JobMessage, ManifestOutput, OutputManifest
from shared.storage import put_failure


def wav_bytes(seconds: float = 0.5, rate: int = 8000) -> bytes:
    """A small stereo sine WAV."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames))
        out.writeframes(b"".join(struct.pack("<hh", s, s) for s in samples))
    return buffer.getvalue()


def take_message(sqs: Any, queue_url: str, job_id: str, visibility: int = 30, timeout: float = 5.0
                 ) -> dict[str, Any]:
    """Receive until the message of ``job_id`` arrives (others become visible again at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                           VisibilityTimeout=0, AttributeNames=["All"]).get("Messages", []):
            body = JobMessage.model_validate_json(message["Body"])
            if body.job_id == job_id:
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"],
                                              VisibilityTimeout=visibility)
                return message
    raise AssertionError(f"no message for job {job_id}")


def write_outputs(s3: Any, bucket: str, job_id: str, batch_size: int = 1, formats: tuple[str, ...] = ("wav",),
                  audio: bytes | None = None) -> OutputManifest:
    """Audio files first, then the manifest (the object that completes the job)."""
    audio = audio or wav_bytes()
    outputs = []
    for index in range(batch_size):
        for fmt in formats:
            key = keys.output_key(job_id, index, fmt)
            s3.put_object(Bucket=bucket, Key=key, Body=audio, ContentType=OutputFormat(fmt).content_type)
            outputs.append(ManifestOutput(index=index, format=fmt, key=key, duration_s=95.0, sample_rate=44100,
                                          channels=2))
    manifest = OutputManifest(job_id=job_id, outputs=outputs, duration_s=95.0, metadata={"model": "test"})
    s3.put_object(Bucket=bucket, Key=keys.manifest_key(job_id), Body=manifest.model_dump_json().encode(),
                  ContentType="application/json")
    return manifest


def write_failure(s3: Any, bucket: str, job_id: str, reason: str) -> None:
    """A worker's permanent failure."""
    put_failure(s3, bucket, job_id, "invalid_input", reason)
