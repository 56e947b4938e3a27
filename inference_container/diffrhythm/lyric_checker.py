"""Did a generated song sing its lyrics: its vocals (the stems separator's) transcribed by Whisper
(``inference_container.transcribe``) and scored against the lines the model was given
(``inference_container.lyrics_check``). A worker whose bundle has both models checks every sung song."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inference_container.diffrhythm.bundle.reader import Bundle
from inference_container.diffrhythm.lyrics import PlacedLine
from inference_container.diffrhythm.stems import Separator
from inference_container.errors import InputError
from inference_container.lyrics_check import LyricsReport, score_lyrics, sheet_from_placed
from inference_container.transcribe import Transcriber, sheet_language

logger = logging.getLogger(__name__)


class LyricCheckUnavailable(InputError):
    """``min_lyrics_accuracy`` was asked for, but this worker's bundle cannot check lyrics."""

    def __init__(self) -> None:
        super().__init__("min_lyrics_accuracy: this server cannot check lyrics (its lyric check is off, or its model "
                         "bundle has no Whisper or no vocal separator); submit the job without min_lyrics_accuracy")


@dataclass
class LyricChecker:
    """The separator and the transcriber a lyric check needs (``load``), and the check itself (``check``)."""

    separator: Separator
    transcriber: Transcriber

    @classmethod
    def load(cls, bundle: Bundle, separator: Separator | None, device: str) -> LyricChecker | None:
        """The bundle's checker, or None where it lacks the separator or Whisper (songs are then not checked)."""
        if separator is None or bundle.whisper is None:
            logger.info("no lyric check: the bundle has no %s", "separator" if separator is None else "Whisper")
            return None
        return cls(separator, Transcriber.load(bundle.whisper, device))

    @property
    def label(self) -> str:
        """What transcribed the vocals (the tiny test model says so: its scores mean nothing)."""
        return self.transcriber.label

    def check(self, song: np.ndarray, rate: int, lines: Sequence[PlacedLine],
              vocals: np.ndarray | None = None) -> LyricsReport | None:
        """The report of ``song`` (float32 [samples, 2] at ``rate``) sung from ``lines``; None when it has no line to
        sing (an instrumental). ``vocals``: the song's separated vocals where they were made already (stems)."""
        sheet = sheet_from_placed(lines, song.shape[0] / rate)
        if not any(line.text.strip() for line in sheet):
            return None
        if vocals is None:
            vocals, _ = self.separator.separate(song, rate)
        heard = self.transcriber.transcribe(vocals, rate, sheet_language(line.text for line in sheet))
        return score_lyrics(sheet, heard)

