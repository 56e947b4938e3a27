"""Reading the caller's jobs: one job, its wire view, a page of them, and download URLs.

Reads never write: a job left unqueued by a crash is failed by the reconciler (``functions/status/reconcile.py``),
not by whoever happens to read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from functions.api.errors import BadRequestError, NotFoundError
from functions.api.presign import Presigner
from functions.api.queue_stats import wait_minutes
from shared import keys
from shared.formats import FileFormat, OutputKind
from shared.ports import ActiveJobs, Jobs
from shared.records import JobRecord
from shared.responses import JobListResponse, JobStatusResponse, OutputPublic, ProgressPublic
from shared.settings import Settings
from shared.states import JobState


class ReadStore(Jobs, ActiveJobs, Protocol):
    """What reads use of the job table: job items, and the index for queue positions."""


@dataclass(frozen=True)
class JobReads:
    """Reads of job items; presigning needs no request to S3."""

    settings: Settings
    store: ReadStore
    presigner: Presigner

    def get_owned(self, job_id: str, owner: str) -> JobRecord:
        """The caller's job (404 for unknown ids and other callers' jobs alike)."""
        record = self.store.get(job_id) if keys.JOB_ID_PATTERN.match(job_id) else None
        if record is None or record.owner != owner:
            raise NotFoundError(f"job {job_id} not found")
        return record

    def view(self, record: JobRecord, *, position: bool = True, url: bool = True) -> JobStatusResponse:
        """The wire view of a job. ``position`` counts the jobs queued ahead (one index query) and ``url`` presigns
        the first WAV; without them ``queue_position``, ``estimated_wait_minutes`` and ``s3_url`` are null."""
        ahead = self.store.queue_position(record) if position and record.status is JobState.QUEUED else None
        first_wav = next((o for o in record.outputs if o.kind is OutputKind.SONG and o.format == FileFormat.WAV), None)
        progress = None
        if record.status is JobState.RUNNING and record.progress_stage is not None:
            progress = ProgressPublic(stage=record.progress_stage, percent=record.progress_percent or 0.0)
        return JobStatusResponse(
            job_id=record.job_id, status=record.status.wire, created_at=record.created_at,
            started_at=record.started_at, completed_at=record.completed_at,
            output_file=first_wav.key if first_wav else None,
            s3_url=self.presigner.get(first_wav.key, f"{record.job_id}.wav") if first_wav and url else None,
            error=record.error, error_code=record.error_code if record.status is JobState.FAILED else None,
            queue_position=ahead,
            estimated_wait_minutes=wait_minutes(self.settings, ahead) if ahead is not None else None,
            progress=progress, audio_length=record.audio_length, batch_size=record.batch_size, seed=record.seed,
            updated_at=record.updated_at,
            outputs=[OutputPublic(index=o.index, format=o.format, size_bytes=o.size_bytes, kind=o.kind, score=o.score,
                                  lyrics_accuracy=o.lyrics_accuracy, content_credentials=o.content_credentials,
                                  download_url=f"/api/v1/download/{record.job_id}?format={o.format}&index={o.index}"
                                  + (f"&kind={o.kind}" if o.kind is not OutputKind.SONG else ""))
                     for o in record.outputs],
        )

    def page(self, owner: str, limit: int, cursor: str | None = None, *, urls: bool = False,
             positions: bool = False) -> JobListResponse:
        """A page of ``owner``'s jobs, newest first: one query, plus presigns and queue counts only when asked."""
        records, next_cursor = self.store.list_for_owner(owner, limit, cursor)
        return JobListResponse(jobs=[self.view(r, position=positions, url=urls) for r in records],
                               next_cursor=next_cursor)

    def download_url(self, job_id: str, owner: str, fmt: FileFormat | None, index: int,
                     kind: OutputKind = OutputKind.SONG) -> str:
        """A short-lived URL of one file of a completed job (``fmt`` None: WAV; LRC for the lyrics, JSON for peaks)."""
        record = self.get_owned(job_id, owner)
        if record.status is not JobState.COMPLETED:
            raise BadRequestError(f"job {job_id} is {record.status.wire}; downloads are available once it is completed")
        fmt = fmt or {OutputKind.LYRICS: FileFormat.LRC, OutputKind.PEAKS: FileFormat.JSON}.get(kind, FileFormat.WAV)
        match = next((o for o in record.outputs if o.kind == kind and o.format == fmt
                      and (o.index == index or kind is OutputKind.LYRICS)), None)
        if match is None:
            have = sorted({f"{o.kind}:{o.format}[{o.index}]" for o in record.outputs})
            raise NotFoundError(f"no {kind} file with format={fmt} and index={index}; this job has {', '.join(have)}")
        name = f"{job_id}_{index}.{fmt}" if kind is OutputKind.SONG else f"{job_id}_{index}.{kind}.{fmt}"
        return self.presigner.get(match.key, f"{job_id}.lyrics.{fmt}" if kind is OutputKind.LYRICS else name)
