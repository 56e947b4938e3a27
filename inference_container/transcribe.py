"""What the vocals sing, heard by Whisper (``transformers``): the transcript the lyric check
(``inference_container.lyrics_check``, pure Python: it never imports torch or numpy, hence this module beside it)
scores.

* ``Transcriber.load(directory)`` reads a checkpoint folder in the Hugging Face published layout (``config.json``,
  ``model.safetensors``, ``generation_config.json``, the tokenizer files, ``preprocessor_config.json``: what
  ``openai/whisper-large-v3-turbo`` publishes, MIT licence) from local files only, on a device and in a dtype.
* ``transcribe`` takes audio [samples, channels] (or [samples]) at any rate: mono (the channels' mean), resampled to
  16 kHz (``scipy.signal.resample_poly``), then the whole song goes to ``transformers``' Whisper long-form generation
  (``generate`` with ``return_timestamps=True``: sequential 30 s windows, each one's next window starting at its last
  predicted timestamp, as openai-whisper does; a song of 30 s or less is one window padded to 30 s).
* Times are segment-level: Whisper's timestamp tokens give each segment's start and end; a segment's text is cut
  into words (whitespace-separated runs, and each Han, kana or hangul character on its own) shared out evenly over
  the segment. Times are clipped into [0, the audio's duration] and made non-decreasing (a window can predict a
  timestamp past the audio's end, or a segment starting before the last one ended).
* The language: "en", "zh" (or any Whisper code) is forced as the generation language; ``None`` lets Whisper
  detect it. ``sheet_language`` picks it from the lyric sheet: "zh" where it has a Han character, else "en".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from inference_container.errors import ModelError
from inference_container.lyrics_check.inputs import HeardWord

if TYPE_CHECKING:
    import torch

RATE = 16_000  # Whisper's input rate
WINDOW_S = 30.0  # one Whisper window
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af\u3007]")
_WORDS = re.compile(
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af\u3007\u3040-\u30ff\u1100-\u11ff\u3131-\u318e"
    "\uac00-\ud7a3]|[^\\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af\u3007\u3040-\u30ff"
    "\u1100-\u11ff\u3131-\u318e\uac00-\ud7a3]+")


class TranscriberError(ModelError):
    """The folder is not a Whisper checkpoint this code loads; the message says what is wrong."""


def sheet_language(lines: Iterable[str]) -> str:
    """The generation language for a lyric sheet: "zh" where any line has a Han character, else "en".

    >>> sheet_language(["Hold me close", "别走"]), sheet_language(["Hold me close"])
    ('zh', 'en')
    """
    return "zh" if any(_HAN.search(line) for line in lines) else "en"


def words(text: str) -> list[str]:
    """``text`` cut into words: whitespace-separated runs, each Han, kana or hangul character on its own.

    >>> words(" Hold me 别走了, ok")
    ['Hold', 'me', '别', '走', '了', ',', 'ok']
    """
    return _WORDS.findall(text)


def spread(text: str, start_s: float, end_s: float) -> list[HeardWord]:
    """A segment's words, sharing [``start_s``, ``end_s``] out evenly in order.

    >>> spread("a b", 1.0, 2.0)
    [HeardWord(text='a', start_s=1.0, end_s=1.5), HeardWord(text='b', start_s=1.5, end_s=2.0)]
    """
    found = words(text)
    step = (end_s - start_s) / max(1, len(found))
    return [HeardWord(word, start_s + index * step, start_s + (index + 1) * step) for index, word in enumerate(found)]


def to_mono_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    """``audio`` [samples] or [samples, channels] at ``rate`` -> mono float32 at 16 kHz (``ValueError`` for empty,
    non-finite or badly shaped audio)."""
    from scipy.signal import resample_poly

    wave = np.asarray(audio, dtype=np.float32)
    if wave.ndim not in (1, 2) or wave.shape[0] == 0 or rate <= 0:
        raise ValueError(f"audio must be non-empty [samples] or [samples, channels]; got {wave.shape} at {rate} Hz")
    if not np.isfinite(wave).all():
        raise ValueError("the audio to transcribe is not finite")
    mono = wave.mean(axis=1) if wave.ndim == 2 else wave
    if rate != RATE:
        common = math.gcd(RATE, int(rate))
        mono = resample_poly(mono, RATE // common, int(rate) // common).astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _device(name: str | torch.device) -> torch.device:
    import torch

    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class Transcriber:
    """A Whisper checkpoint ready to transcribe (``load``, then ``transcribe``)."""

    model: Any  # WhisperForConditionalGeneration
    processor: Any  # WhisperProcessor
    device: torch.device
    directory: Path

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu",
             dtype: torch.dtype | None = None) -> Transcriber:
        """The checkpoint in ``directory`` (local files only) on ``device`` (``auto``: a GPU where there is one), in
        ``dtype`` (default: float16 on a GPU, float32 on the CPU); ``TranscriberError`` where it cannot be read."""
        import torch
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        folder = Path(directory)
        if not (folder / "config.json").is_file():
            raise TranscriberError(f"{folder}: no config.json, not a Whisper checkpoint folder")
        target = _device(device)
        chosen = dtype or (torch.float16 if target.type == "cuda" else torch.float32)
        try:
            model = WhisperForConditionalGeneration.from_pretrained(folder, dtype=chosen, local_files_only=True)
            processor = WhisperProcessor.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError) as error:
            raise TranscriberError(f"{folder}: {error}") from error
        return cls(model.to(target).eval(), processor, target, folder)

    @property
    def is_tiny(self) -> bool:
        """Whether this is a TINY RANDOM test model (``testing/tiny_whisper.py`` marks its config.json)."""
        return bool(getattr(self.model.config, "tiny_random", None))

    @property
    def label(self) -> str:
        """What this transcriber is, for reports: the tiny model's marker, else the folder's name."""
        return str(self.model.config.tiny_random) if self.is_tiny else f"whisper ({self.directory.name})"

    def _features(self, mono: np.ndarray) -> dict[str, torch.Tensor]:
        """Log-mel features: one 30 s window padded, or the whole song unpadded (long-form) with its mask."""
        extractor = self.processor.feature_extractor
        if mono.shape[0] <= WINDOW_S * RATE:
            found = extractor(mono, sampling_rate=RATE, return_tensors="pt", return_attention_mask=True)
        else:
            found = extractor(mono, sampling_rate=RATE, return_tensors="pt", truncation=False, padding="longest",
                              return_attention_mask=True)
        return {"input_features": found["input_features"].to(self.device, self.model.dtype),
                "attention_mask": found["attention_mask"].to(self.device)}

    def _text(self, tokens: Iterable[int]) -> str:
        """The text of a segment's tokens: the text tokens (below ``<|endoftext|>``) decoded, special and timestamp
        tokens dropped."""
        tokenizer = self.processor.tokenizer
        end_of_text = int(tokenizer.convert_tokens_to_ids("<|endoftext|>"))
        return str(tokenizer.decode([int(token) for token in tokens if int(token) < end_of_text]))

    def segments(self, audio: np.ndarray, rate: int, language: str | None = None) -> list[tuple[str, float, float]]:
        """Whisper's segments of ``audio`` (see ``transcribe``): ``(text, start_s, end_s)`` in order, times clipped
        into [0, the audio's duration] and non-decreasing."""
        import torch

        mono = to_mono_16k(audio, rate)
        duration = mono.shape[0] / RATE
        with torch.inference_mode():
            output = self.model.generate(**self._features(mono), return_timestamps=True, return_segments=True,
                                         task="transcribe", language=language)
        found: list[tuple[str, float, float]] = []
        cursor = 0.0
        for segment in output["segments"][0]:
            start = min(max(float(segment["start"]), cursor), duration)
            end = min(max(float(segment["end"]), start), duration)
            cursor = end
            found.append((self._text(segment["tokens"].tolist()), start, end))
        return found

    def transcribe(self, audio: np.ndarray, rate: int, language: str | None = None) -> list[HeardWord]:
        """The words sung in ``audio`` (float32 [samples, channels] or [samples] at ``rate``), in order, each with
        its start and end in seconds (its segment's span shared out evenly over the segment's words). ``language``:
        a Whisper language code forced for generation ("en", "zh"; ``sheet_language``), or ``None`` to detect it."""
        return [word for text, start, end in self.segments(audio, rate, language) for word in spread(text, start, end)]
