"""One job: read its request from S3, generate, write the outputs and, last, the manifest (or a failure record)."""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import soundfile
from botocore.exceptions import ClientError

from inference_container.audio import Provenance
from inference_container.audio.credentials import ContentSigner, Source
from inference_container.diffrhythm.outputs import render
from inference_container.diffrhythm.songs import (
    PER_VARIATION,
    Progress,
    Song,
    SongRequest,
    edit_seconds,
    ranked,
    song_request,
)
from inference_container.diffrhythm.style import clip_window
from inference_container.errors import InputError
from shared import keys
from shared.audio_probe import ClipRefused, check_clip, probe
from shared.formats import OutputFormat
from shared.records import FailureCode, JobRequestRecord, ManifestOutput, OutputManifest
from shared.storage import exists, is_missing, put_failure, put_json

Window = Callable[[int, int], tuple[int, int]]  # (frames, rate) of a clip -> (start, count) of the frames to decode


class SongGenerator(Protocol):
    """What the worker needs of ``inference_container.diffrhythm.pipeline.Pipeline`` (tests pass a stand-in)."""

    def batch_key(self, request: SongRequest) -> Hashable: ...

    def generate_batch(self, requests: Sequence[SongRequest], progress: Progress | None = None) -> list[Song]: ...


@dataclass
class JobRunner:
    """Runs jobs through a loaded pipeline against one bucket; with ``signer``, every audio file it writes carries a
    C2PA manifest signed with the deployment's key."""

    pipeline: SongGenerator
    s3: Any
    bucket: str
    signer: ContentSigner | None = None

    def load_request(self, key: str) -> JobRequestRecord:
        """The stored request of a job."""
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return JobRequestRecord.model_validate_json(body)

    def delivered(self, job_id: str) -> bool:
        """Whether the job's manifest is written already: the job is done and only its status event is pending (a
        worker died between writing it and deleting the message, and the event was delayed or lost). Generating it
        again would write its outputs twice; the status function or the reconciler completes it instead."""
        return exists(self.s3, self.bucket, keys.manifest_key(job_id))

    def _audio(self, key: str, field: str, window: Window, gone: str | None = None) -> tuple[np.ndarray, int]:
        """The frames of an uploaded clip that generation uses. Its header is checked first
        (``shared.audio_probe``) and only ``window(frames, rate)`` is decoded, so memory follows what is used, not
        the file. A clip that is gone, refused or not audio is the user's to fix (``InputError``); any other error
        reading it (throttling, a network fault) is retried."""
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if is_missing(error):
                raise InputError(f"{field}: {gone or f'{key} no longer exists; upload the file again'}") from None
            raise
        try:
            info = probe(data)
            check_clip(info)
        except ClipRefused as refused:
            raise InputError(f"{field}: {refused.reason}") from None
        start, count = window(round(info.duration_s * info.sample_rate), info.sample_rate)
        try:
            audio, rate = soundfile.read(io.BytesIO(data), frames=count, start=start, dtype="float32",
                                         always_2d=True)
        except (RuntimeError, ValueError) as error:  # libsndfile errors are RuntimeErrors
            raise InputError(f"{field}: {key} could not be read as audio ({type(error).__name__})") from error
        return audio, rate

    def song_request(self, request: JobRequestRecord) -> SongRequest:
        """The pipeline's request for a stored job request (its clips read as far as generation needs them); the
        user's errors raise ``InputError``."""
        keep_s = edit_seconds(request.audio_length)

        def edited(frames: int, rate: int) -> tuple[int, int]:  # the start of the song, as long as the new one
            return 0, min(frames, math.ceil(keep_s * rate))

        return song_request(
            request, lrc=request.lrc, seed=request.seed,
            style_audio=self._audio(request.reference_audio_key, "reference_audio_key", clip_window)
            if request.reference_audio_key else None,
            edit_audio=self._source_audio(request, "edit", edited) if request.edit else None,
            remix_audio=self._source_audio(request, "remix", edited) if request.remix else None)

    def _source_audio(self, request: JobRequestRecord, field: str, window: Window) -> tuple[np.ndarray, int]:
        """The song an edit changes or a remix starts from (``field``): an upload, or (``source_job``) a finished
        job's song, resolved at submit."""
        source = request.edit if field == "edit" else request.remix
        assert source is not None and source.reference_audio_key is not None
        if request.source_job is None:
            return self._audio(source.reference_audio_key, f"{field}.reference_audio_key", window)
        return self._audio(source.reference_audio_key, "source_job", window,
                           gone=f"the song of job {request.source_job} is no longer stored")

    def generate(self, requests: Sequence[SongRequest], progress: Progress, max_rows: int) -> list[Song]:
        """Generate batch-compatible requests, at most ``max_rows`` rows (variations; the sampler's batch is twice
        that, conditional and unconditional) per sampling call. A request with more variations is split across calls
        (variation ``i`` keeps seed ``seed + i``) and its songs joined. The user's errors raise ``InputError``;
        anything else propagates (and is retried)."""
        calls = row_calls([r.variations for r in requests], max_rows)
        parts: list[list[Song]] = [[] for _ in requests]
        for number, call in enumerate(calls):
            chunk = [replace(requests[j], seed=requests[j].seed + first, variations=count) for j, first, count in call]
            songs = self.pipeline.generate_batch(chunk, _share(progress, number, len(calls)))
            for (j, _, _), song in zip(call, songs, strict=True):
                parts[j].append(song)
        return [_joined(songs) for songs in parts]

    def upload(self, request: JobRequestRecord, song: Song, seconds: float) -> OutputManifest:
        """Write a job's files, then its manifest last (its arrival completes the job)."""
        formats = tuple(dict.fromkeys((OutputFormat.WAV, request.output_format)))
        if request.source_job is not None:  # the song this one edits, extends or remixes
            song = replace(song, metadata={**song.metadata, "source_job": request.source_job})
        if request.remix is not None:  # what it remixes, and how much (the pipeline's part: where sampling started)
            source = {"source_job": request.source_job} if request.source_job else {
                "reference": request.remix.reference_audio_key}
            remix = {**song.metadata.get("remix", {}), **source, "strength": request.remix.strength}
            song = replace(song, metadata={**song.metadata, "remix": remix})
        model = "-".join(str(song.metadata[name]) for name in ("model", "variant") if name in song.metadata)
        provenance = Provenance(request.title, model or "diffrhythm", request.seed, request.job_id,
                                request.submitted_at)
        outputs = []
        for item in render(song, formats, provenance, self.signer, self._source(request)):
            key = keys.output_prefix(request.job_id) + item.name
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=item.data, ContentType=item.content_type)
            if item.kind is not None and item.format is not None and item.index is not None:
                audio = item.duration_s is not None
                outputs.append(ManifestOutput(index=item.index, format=item.format, key=key, kind=item.kind,
                                              score=item.score, lyrics_accuracy=item.lyrics_accuracy,
                                              content_credentials=audio and self.signer is not None,
                                              duration_s=item.duration_s, sample_rate=song.rate if audio else None,
                                              channels=2 if audio else None))
        metadata = {**song.metadata, "warnings": song.warnings, "job_seconds": round(seconds, 3)}
        manifest = OutputManifest(job_id=request.job_id, outputs=outputs, metadata=metadata,
                                  duration_s=round(len(song.audio[0]) / song.rate, 3))
        put_json(self.s3, self.bucket, keys.manifest_key(request.job_id), manifest)
        return manifest

    def _source(self, request: JobRequestRecord) -> Source | None:
        """The song an edit, extension or remix was made from, as stored, for its files' manifests (read only to
        sign)."""
        how, made_from = ("remix", request.remix) if request.remix is not None else ("edit", request.edit)
        if self.signer is None or made_from is None or made_from.reference_audio_key is None:
            return None
        data = self.s3.get_object(Bucket=self.bucket, Key=made_from.reference_audio_key)["Body"].read()
        return Source(data, how, request.source_job)

    def fail(self, job_id: str, reason: str, code: FailureCode = "generation_failed") -> None:
        """Write the failure record (its arrival fails the job)."""
        put_failure(self.s3, self.bucket, job_id, code, reason)


def row_calls(variations: Sequence[int], max_rows: int) -> list[list[tuple[int, int, int]]]:
    """Sampling calls of at most ``max_rows`` rows for requests of ``variations`` rows each, in order: each call lists
    ``(request index, first variation, count)``.

    Example
    -------
    >>> row_calls([1, 5], 4)
    [[(0, 0, 1), (1, 0, 3)], [(1, 3, 2)]]
    """
    calls: list[list[tuple[int, int, int]]] = [[]]
    used = 0
    for index, rows in enumerate(variations):
        first = 0
        while first < rows:
            if used == max_rows:
                calls.append([])
                used = 0
            count = min(rows - first, max_rows - used)
            calls[-1].append((index, first, count))
            used += count
            first += count
    return calls


def _share(progress: Progress, number: int, calls: int) -> Progress:
    """Call ``number`` of ``calls`` reports its part of the whole (the percentages stay monotonic)."""
    if calls == 1:
        return progress
    return lambda stage, percent: progress(stage, (100.0 * number + percent) / calls)


def _joined(parts: list[Song]) -> Song:
    """One request's songs from the calls it was split across: variations, scores, checks and stems in order
    (ranked again when the request ranks them: each part was ranked alone), timings added up."""
    if len(parts) == 1:
        return parts[0]
    metadata = dict(parts[0].metadata)
    for name in PER_VARIATION:
        if name in metadata:
            metadata[name] = [value for part in parts for value in part.metadata[name]]
    if "timings" in metadata:
        names = dict.fromkeys(name for part in parts for name in part.metadata.get("timings", {}))
        metadata["timings"] = {name: round(sum(float(p.metadata.get("timings", {}).get(name, 0.0)) for p in parts), 3)
                               for name in names}
    song = Song([audio for part in parts for audio in part.audio], parts[0].rate, parts[0].warnings, metadata,
                scores=[score for part in parts for score in part.scores], lyrics=parts[0].lyrics,
                stems=[stem for part in parts for stem in part.stems],
                checks=[check for part in parts for check in part.checks])
    return ranked(song) if metadata.get("ranked") else song
