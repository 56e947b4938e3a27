"""What an uploaded clip is, read from its header, and the one place that decides which clips the service accepts.

Torch-free (soundfile only, with the numpy it imports): the upload check (``functions.status.upload_check``) refuses
a clip when it is uploaded, and the worker checks it again before decoding anything. ``probe`` never decodes audio:
libsndfile reads the header (FLAC's STREAMINFO, WAV's chunks, an MP3's Xing header or its size and bit rate, an Ogg
stream's last page), so a 30-minute silent FLAC of a few hundred KiB is refused without decoding the hundreds of MiB
its samples would take.

Use::

    info = probe(data)   # bytes, a path or a seekable binary file object; ClipRefused if it is not audio
    check_clip(info)     # ClipRefused(reason) outside the limits below, e.g. "the clip has 3 channels; ..."
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from os import PathLike
from typing import BinaryIO

import soundfile

#: The shortest clip accepted, in seconds: a style reference embeds the middle 10 s of its clip
#: (``inference_container.diffrhythm.style.CLIP_SECONDS``). The upload check cannot know whether a clip will be a
#: style reference or a song to edit, so one minimum serves both; a song to edit shorter than that leaves too little
#: to keep around the regenerated segments.
MIN_DURATION_S = 10.0
#: The longest clip accepted, in seconds (decoding, resampling and encoding stay within a worker's memory).
MAX_DURATION_S = 600.0
MIN_CHANNELS, MAX_CHANNELS = 1, 2
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000
#: libsndfile's major formats that ``shared.contract.UploadContentType`` allows (WAVEX: WAV with an extensible header)
FORMATS = frozenset({"WAV", "WAVEX", "FLAC", "OGG", "MP3"})
_UNKNOWN_FRAMES = 2**63 - 1  # libsndfile's frame count when a header does not say (a FLAC stream without a total)


class ClipRefused(ValueError):
    """The clip is not accepted; ``reason`` is a plain sentence for the user (no library text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ClipInfo:
    """A clip's header: its length in seconds (0.0 when the header does not say), channels, sample rate (Hz) and
    libsndfile format ("WAV", "FLAC", "OGG", "MP3", ...)."""

    duration_s: float
    channels: int
    sample_rate: int
    format: str


def probe(source: bytes | BinaryIO | str | PathLike[str]) -> ClipInfo:
    """The header of an audio file (bytes, a seekable binary file object or a path), without decoding its samples.

    Raises ``ClipRefused`` when libsndfile cannot read it as audio.
    """
    file = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        with soundfile.SoundFile(file) as sound:
            frames, rate, channels, fmt = sound.frames, sound.samplerate, sound.channels, sound.format
    except (RuntimeError, ValueError, TypeError, EOFError) as error:  # LibsndfileError is a RuntimeError
        raise ClipRefused("the file could not be read as audio (WAV, FLAC, Ogg or MP3)") from error
    known = rate > 0 and 0 < frames < _UNKNOWN_FRAMES
    return ClipInfo(duration_s=frames / rate if known else 0.0, channels=channels, sample_rate=rate, format=fmt)


def check_clip(info: ClipInfo) -> None:
    """Raise ``ClipRefused`` with a plain reason unless the clip lies within the service's limits."""
    if info.format not in FORMATS:
        raise ClipRefused(f"{info.format} files are not accepted; upload WAV, FLAC, Ogg or MP3")
    if not MIN_CHANNELS <= info.channels <= MAX_CHANNELS:
        raise ClipRefused(f"the clip has {info.channels} channels; only mono or stereo clips are accepted")
    if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
        raise ClipRefused(f"the clip's sample rate is {info.sample_rate} Hz; "
                          f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz are accepted")
    if not info.duration_s > 0:
        raise ClipRefused("the clip's length cannot be read from its header")
    if info.duration_s < MIN_DURATION_S:
        raise ClipRefused(f"the clip is {info.duration_s:.1f} s long; at least {MIN_DURATION_S:g} s are needed")
    if info.duration_s > MAX_DURATION_S:
        raise ClipRefused(f"the clip is {info.duration_s:.1f} s long; at most {MAX_DURATION_S:g} s are accepted")
