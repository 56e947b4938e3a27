"""``SongRequest`` as the product makes one: a ``GenerateRequest`` (validated by the contract) resolved by
``inference_container.diffrhythm.songs.song_request``, so tests get the same preset, overrides and style mix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inference_container.diffrhythm.songs import Clip, SongRequest, song_request
from shared.contract import GenerateRequest


def request_for(lrc: str, *, seed: int = 0, style_audio: Clip | None = None, edit_audio: Clip | None = None,
                segments: Sequence[Sequence[float]] | None = None, remix_audio: Clip | None = None,
                strength: float | None = None, **fields: Any) -> SongRequest:
    """The request for ``lrc`` (sung as given; ``""`` with ``instrumental=True``) and ``fields`` of a
    ``GenerateRequest``; ``style_audio``, ``edit_audio`` and ``remix_audio`` stand for an uploaded clip, a song to
    edit (its ``segments``) and a song to remix (at ``strength``). Unmastered unless ``auto_master`` is given: these
    tests compare what the model made."""
    edit = {"reference_audio_key": "song.wav", "segments": segments} if edit_audio is not None else None
    remix = {"reference_audio_key": "source.wav", "strength": strength} if remix_audio is not None else None
    request = GenerateRequest.model_validate({
        "lyrics": lrc or None, "reference_audio_key": "clip.wav" if style_audio is not None else None, "edit": edit,
        "remix": remix, "auto_master": False, **fields})
    return song_request(request, lrc=lrc, seed=seed, style_audio=style_audio, edit_audio=edit_audio,
                        remix_audio=remix_audio)
