"""A finished job's song as the source of a repaint (``edit.job_id``), an extension (``extend``) or a remix
(``remix.job_id``).

The API resolves the source once, at submit: the caller must own the job, it must be completed, and its song must
still exist. The stored request then names the song's WAV as the edit's (or the remix's) reference, so the worker
reads it exactly as it reads an upload. An extension keeps the source up to ``from_s`` (its end by default) and
regenerates the rest; its lyrics are the source's lines before ``from_s`` followed by the new lyrics (timed lyrics on
the extended song's time line; untimed ones timed over the new part). A remix's untimed lyrics take the source's line
times where they have as many sung lines (``shared.remix.remix_lyrics``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import JsonValue

from functions.api.errors import FieldError
from shared import keys
from shared.contract import EditRequest, GenerateRequest
from shared.formats import FileFormat, OutputKind
from shared.lyrics import extended_lyrics
from shared.ports import Jobs, ObjectStore
from shared.records import JobRequestRecord
from shared.remix import RemixRequest, remix_lyrics
from shared.states import JobState
from shared.storage import exists


@dataclass(frozen=True)
class Source:
    """The song a request edits or extends: its job, its WAV's key, its length and its job's stored request."""

    job_id: str
    key: str
    duration_s: float
    request_key: str


@dataclass(frozen=True)
class Resolved:
    """What the stored request uses instead of ``edit.job_id`` / ``extend`` / ``remix.job_id``: ``fields`` replaced
    in it (an edit or a remix of the source's WAV), the LRC (``None``: the request's own), and warnings for the caller;
    ``retimed``: the LRC replaces the request's own timing, whose warnings no longer apply."""

    fields: dict[str, JsonValue]
    source: Source
    lrc: str | None
    warnings: list[str]
    retimed: bool = False


def find_source(store: Jobs, s3: ObjectStore, bucket: str, owner: str, job_id: str, index: int,
                loc: list[str | int]) -> Source:
    """The caller's finished song ``index`` of ``job_id``; a clear 422 naming ``loc`` otherwise (another owner's
    job reads as unknown)."""
    record = store.get(job_id) if keys.JOB_ID_PATTERN.match(job_id) else None
    if record is None or record.owner != owner:
        raise FieldError([*loc, "job_id"], f"no job {job_id} of yours")
    if record.status is not JobState.COMPLETED:
        raise FieldError([*loc, "job_id"], f"job {job_id} is {record.status.wire}; only a completed job's song can "
                         "be edited, extended or remixed")
    songs = [o for o in record.outputs if o.kind is OutputKind.SONG and o.format == FileFormat.WAV]
    wav = next((o for o in songs if o.index == index), None)
    if wav is None:
        raise FieldError([*loc, "index"], f"job {job_id} has variations 0..{len(songs) - 1}, not {index}")
    if record.duration_s is None or not exists(s3, bucket, wav.key):
        raise FieldError([*loc, "job_id"], f"the song of job {job_id} is no longer stored; generate it again")
    return Source(job_id, wav.key, record.duration_s, record.request_key)


def sung_lrc(s3: ObjectStore, bucket: str, source: Source) -> str:
    """The LRC the source song was sung from (its stored request's): an extension and a remix need it."""
    body = s3.get_object(Bucket=bucket, Key=source.request_key)["Body"].read()
    return JobRequestRecord.model_validate_json(body).lrc


def resolve(request: GenerateRequest, store: Jobs, s3: ObjectStore, bucket: str, owner: str) -> Resolved | None:
    """The source-based edit or remix of ``request`` (None when it has no ``edit.job_id``, ``extend`` or
    ``remix.job_id``)."""
    if request.remix is not None and request.remix.job_id is not None:
        return _remix(request, request.remix, find_source(store, s3, bucket, owner, request.remix.job_id,
                                                          request.remix.index, ["remix"]), s3, bucket)
    if request.extend is not None:
        extend = request.extend
        source = find_source(store, s3, bucket, owner, extend.job_id, extend.index, ["extend"])
        start = extend.from_s if extend.from_s is not None else source.duration_s
        if start > source.duration_s:
            raise FieldError(["extend", "from_s"], f"the song of job {source.job_id} is {source.duration_s:g} s "
                             f"long; from_s must be at most that")
        if start >= request.audio_length:
            raise FieldError(["audio_length"], f"an extension must be longer than the part it keeps ({start:g} s)")
        lyrics = None if request.instrumental else request.lyrics
        lrc, warnings = extended_lyrics(sung_lrc(s3, bucket, source), start, lyrics, request.audio_length, request.bpm)
        edit = EditRequest(reference_audio_key=source.key, segments=[(start, -1)])
        return Resolved({"edit": edit.model_dump(mode="json"), "extend": None}, source, lrc, warnings)
    if request.edit is not None and request.edit.job_id is not None:
        source = find_source(store, s3, bucket, owner, request.edit.job_id, request.edit.index, ["edit"])
        edit = EditRequest(reference_audio_key=source.key, segments=request.edit.segments)
        return Resolved({"edit": edit.model_dump(mode="json")}, source, None, [])
    return None


def _remix(request: GenerateRequest, remix: RemixRequest, source: Source, s3: ObjectStore, bucket: str) -> Resolved:
    """A remix of ``source``: its WAV as the remix's reference, and untimed lyrics on its line times where they fit."""
    stored = RemixRequest(reference_audio_key=source.key, strength=remix.strength)
    warnings = []
    if source.duration_s < request.audio_length:
        warnings.append(f"the song of job {source.job_id} is {source.duration_s:g} s long: the remix's last "
                        f"{request.audio_length - source.duration_s:g} s start from noise alone")
    lrc, timing = (None, []) if request.instrumental or request.lyrics is None else remix_lyrics(
        sung_lrc(s3, bucket, source), request.lyrics, request.audio_length, request.bpm)
    return Resolved({"remix": stored.model_dump(mode="json")}, source, lrc, warnings + timing, retimed=lrc is not None)
