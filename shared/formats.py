"""The formats of a job's files and of uploads, as the HTTP contract names them."""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    """Audio formats a job can produce. WAV is always produced (``/download`` serves it by default)."""

    WAV = "wav"
    FLAC = "flac"
    MP3 = "mp3"

    @property
    def content_type(self) -> str:
        """The MIME type stored on the S3 object."""
        return FileFormat(self.value).content_type


class FileFormat(StrEnum):
    """Formats of a job's files: the audio formats, plus its lyric timings (``lrc``, ``json``)."""

    WAV = "wav"
    FLAC = "flac"
    MP3 = "mp3"
    LRC = "lrc"
    JSON = "json"

    @property
    def content_type(self) -> str:
        """The MIME type stored on the S3 object."""
        return {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "lrc": "text/plain; charset=utf-8",
                "json": "application/json"}[self.value]


class OutputKind(StrEnum):
    """What a job's file holds: a song (one per variation), its stems, its waveform peaks, or the lyrics as placed."""

    SONG = "song"
    VOCALS = "vocals"
    ACCOMPANIMENT = "accompaniment"
    PEAKS = "peaks"
    LYRICS = "lyrics"


class UploadContentType(StrEnum):
    """Reference clip types accepted for upload."""

    WAV = "audio/wav"
    X_WAV = "audio/x-wav"
    MPEG = "audio/mpeg"
    FLAC = "audio/flac"
    OGG = "audio/ogg"

    @property
    def extension(self) -> str:
        """File extension of the stored clip."""
        return {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mpeg": "mp3", "audio/flac": "flac",
                "audio/ogg": "ogg"}[self.value]
