"""Provenance tags: every audio file says it is AI-generated, with which model, seed and job.

The encoded bytes are tagged in memory; the audio data is untouched (the tagged file decodes to the same samples).

- WAV: a RIFF ``LIST/INFO`` chunk before the data (INAM title, ICMT comment, ISFT software, ICRD date; read by
  Windows, foobar2000, VLC, ffmpeg, libsndfile), plus an ``id3 `` chunk with the MP3's frames (read by mutagen,
  foobar2000, iTunes, ffmpeg). INFO values are UTF-8, as ffmpeg writes them.
- FLAC: Vorbis comments TITLE, COMMENT and DESCRIPTION, ENCODER, DATE, DIFFRHYTHM_MODEL/_SEED/_JOB_ID.
- MP3: ID3v2.3 (the version every player reads): TIT2, COMM, TSSE, TDRC, TXXX:DIFFRHYTHM_MODEL/_SEED/_JOB_ID.
"""

from __future__ import annotations

import io
import struct
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from mutagen import flac, id3, mp3, wave

from shared.formats import OutputFormat

SOFTWARE = "DiffRhythm service"
TITLE_MAX = 200  # characters, as the request's title
FIELD_MAX = 100  # model name and job id
_DROPPED_FORMATS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")  # bidi overrides, BOM


def clean(text: str, limit: int) -> str:
    """``text`` safe for any tag: control characters dropped (whitespace ones become spaces), runs of whitespace
    collapsed, at most ``limit`` characters (a cut one ends with "…").

    >>> clean("  Night\\n\\x00drive\\t ✨ ", 200)
    'Night drive ✨'
    >>> clean("abcdef", 4)
    'abc…'
    """
    kept = (" " if char.isspace() else char for char in text
            if char.isspace() or (unicodedata.category(char) not in ("Cc", "Cs") and char not in _DROPPED_FORMATS))
    cleaned = " ".join("".join(kept).split())
    return cleaned if len(cleaned) <= limit else cleaned[:limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Provenance:
    """Where a song came from, written into each of its files' tags. ``title`` None (or nothing left after
    cleaning) becomes "DiffRhythm song <the job id's first 8 characters>"; ``created`` adds a date tag."""

    title: str | None
    model: str
    seed: int
    job_id: str
    created: datetime | None = None

    def tags(self) -> dict[str, str]:
        """The cleaned values: title, comment, software, model, seed, job_id, and date when ``created`` is set.

        >>> Provenance(None, "diffrhythm-full", 7, "0f9c2d4e-1234").tags()["comment"]
        'AI-generated with DiffRhythm (model diffrhythm-full, seed 7, job 0f9c2d4e-1234)'
        """
        model, job_id = clean(self.model, FIELD_MAX), clean(self.job_id, FIELD_MAX)
        title = clean(self.title or "", TITLE_MAX) or f"DiffRhythm song {job_id[:8]}".rstrip()
        values = {
            "title": title,
            "comment": f"AI-generated with DiffRhythm (model {model}, seed {int(self.seed)}, job {job_id})",
            "software": SOFTWARE, "model": model, "seed": str(int(self.seed)), "job_id": job_id,
        }
        if self.created is not None:
            values["date"] = self.created.date().isoformat()
        return values


def tagged(data: bytes, fmt: OutputFormat | str, provenance: Provenance) -> bytes:
    """The file ``data`` (as ``encode`` writes it in ``fmt``) with ``provenance``'s tags added."""
    values = provenance.tags()
    fmt = OutputFormat(fmt)
    if fmt is OutputFormat.WAV:
        data = _with_riff_info(data, values)
    buffer = io.BytesIO(data)
    if fmt is OutputFormat.FLAC:
        _add_vorbis_comments(buffer, values)
    else:
        _add_id3(buffer, wave.WAVE if fmt is OutputFormat.WAV else mp3.MP3, values)
    return buffer.getvalue()


def _add_vorbis_comments(buffer: io.BytesIO, values: dict[str, str]) -> None:
    song = flac.FLAC(buffer)
    for key, value in _vorbis(values).items():
        song[key] = [value]
    buffer.seek(0)
    song.save(buffer)


def _add_id3(buffer: io.BytesIO, kind: type[wave.WAVE | mp3.MP3], values: dict[str, str]) -> None:
    song = kind(buffer)
    song.add_tags()
    assert song.tags is not None
    for frame in _id3(values):
        song.tags.add(frame)
    buffer.seek(0)
    song.save(buffer, v1=0, v2_version=3)


def _vorbis(values: dict[str, str]) -> dict[str, str]:
    names = {"title": "TITLE", "comment": "COMMENT", "software": "ENCODER", "date": "DATE",
             "model": "DIFFRHYTHM_MODEL", "seed": "DIFFRHYTHM_SEED", "job_id": "DIFFRHYTHM_JOB_ID"}
    return {names[key]: value for key, value in values.items()} | {"DESCRIPTION": values["comment"]}


def _id3(values: dict[str, str]) -> list[id3.Frame]:
    utf8 = id3.Encoding.UTF8  # written as UTF-16 in ID3v2.3
    frames: list[id3.Frame] = [
        id3.TIT2(encoding=utf8, text=[values["title"]]),
        id3.COMM(encoding=utf8, lang="eng", desc="", text=[values["comment"]]),
        id3.TSSE(encoding=utf8, text=[values["software"]]),
    ]
    frames += [id3.TXXX(encoding=utf8, desc=f"DIFFRHYTHM_{key.upper()}", text=[values[key]])
               for key in ("model", "seed", "job_id")]
    if "date" in values:
        frames.append(id3.TDRC(encoding=utf8, text=[values["date"]]))
    return frames


def _with_riff_info(data: bytes, values: dict[str, str]) -> bytes:
    """``data`` (a RIFF/WAVE file) with a ``LIST/INFO`` chunk inserted before its ``data`` chunk."""
    names = {"title": b"INAM", "comment": b"ICMT", "software": b"ISFT", "date": b"ICRD"}
    info = b"INFO"
    for key, name in names.items():
        if key in values:
            text = values[key].encode() + b"\0"
            info += name + struct.pack("<I", len(text)) + text + b"\0" * (len(text) % 2)
    chunk = b"LIST" + struct.pack("<I", len(info)) + info
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    offset = 12
    while data[offset:offset + 4] != b"data":
        if offset + 8 > len(data):
            raise ValueError("a RIFF/WAVE file without a data chunk")
        size = struct.unpack("<I", data[offset + 4:offset + 8])[0]
        offset += 8 + size + size % 2
    body = data[:offset] + chunk + data[offset:]
    return body[:4] + struct.pack("<I", len(body) - 8) + body[8:]
