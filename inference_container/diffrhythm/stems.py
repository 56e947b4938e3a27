"""Vocals and accompaniment of a song, separated with Demucs v4 (htdemucs, the ``demucs`` package).

The published checkpoint (``bundle.sources.HTDEMUCS``, a bundle's ``stems/htdemucs.th``) is a torch pickle
``{"klass": HTDemucs, "args": (), "kwargs": {...}, "state": {name: fp16 tensor}, ...}`` (plus ``training_args`` and
``metrics``). It is read with torch's weights-only unpickler, allowing no code but the model's class,
``fractions.Fraction`` (its ``segment``) and numpy scalars (its metrics); the model is built from ``kwargs`` (each
one a parameter of ``HTDemucs``: none is dropped, unlike ``demucs.states.load_model``) and takes ``state`` strictly
(every tensor present, none extra, shapes equal), in float32.

A song is normalised as the ``demucs`` command does (less its mono mix's mean, over that mix's standard deviation),
separated in the model's training-length segments overlapping by ``OVERLAP`` (``demucs.apply.apply_model``, without
random shifts, so the same song always gives the same stems), and only the ``vocals`` source is kept, scaled back:
the accompaniment is the mix less the vocals, so the two add up to the mix (the mix's DC offset stays in it).
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from inference_container.diffrhythm.bundle.reader import Bundle
from inference_container.diffrhythm.device import resolve_device
from inference_container.errors import InputError, ModelError

if TYPE_CHECKING:
    from demucs.htdemucs import HTDemucs

VOCALS = "vocals"
OVERLAP = 0.25  # of a segment, as the demucs command
REQUIRED = ("klass", "args", "kwargs", "state")
OPTIONAL = ("training_args", "metrics")  # the published file's records of its training, unused


class SeparatorError(ModelError):
    """The file is not a Demucs htdemucs checkpoint this code loads; the message says what is wrong."""


class StemsUnavailable(InputError):
    """Stems were asked for, but this worker's weights bundle has no separator."""

    def __init__(self) -> None:
        super().__init__("stems are not available on this server (its model bundle has no vocal separator); "
                         "submit the job without stems")


def _allowed_globals() -> list[Any]:
    """What the weights-only unpickler may build besides tensors: the model's class, ``Fraction``, and numpy scalars
    (their reconstructor, pickled by numpy 1.x as ``numpy.core.multiarray.scalar``, by numpy 2 as ``numpy._core...``;
    ``np.dtype`` and the dtype classes whose state it sets)."""
    from demucs.htdemucs import HTDemucs

    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    dtypes = [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]
    return [HTDemucs, fractions.Fraction, np.dtype, *dtypes, scalar, (scalar, "numpy.core.multiarray.scalar")]


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The published checkpoint's dict (weights-only unpickling); ``SeparatorError`` if it is not one."""
    path = Path(path)
    allowed = _allowed_globals()
    try:
        with torch.serialization.safe_globals(allowed):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged or foreign file
        foreign = _foreign_globals(path, allowed)
        detail = f"it pickles {', '.join(foreign)}, not only a model's class and data" if foreign else str(error)
        raise SeparatorError(f"{path}: not a Demucs checkpoint ({detail})") from error
    if not isinstance(package, dict) or any(key not in package for key in REQUIRED):
        keys = sorted(map(str, package)) if isinstance(package, dict) else type(package).__name__
        raise SeparatorError(f"{path}: expected a dict with {', '.join(REQUIRED)}; found {keys}")
    extra = sorted(str(key) for key in package if key not in REQUIRED + OPTIONAL)
    if extra:
        raise SeparatorError(f"{path}: unexpected entries {extra}")
    return package


def _foreign_globals(path: Path, allowed: list[Any]) -> list[str]:
    """The globals in ``path``'s pickle outside ``allowed`` (empty where none, or where it cannot be read)."""
    names = {entry[1] if isinstance(entry, tuple) else f"{entry.__module__}.{entry.__qualname__}"
             for entry in allowed}
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not even a torch file
        return []
    return sorted(set(found) - names)


def build_model(package: dict[str, Any], path: str | Path = "checkpoint") -> HTDemucs:
    """The HTDemucs ``package`` describes, holding its state strictly, in float32, in eval mode, on the CPU."""
    import inspect

    from demucs.htdemucs import HTDemucs

    if package["klass"] is not HTDemucs:
        raise SeparatorError(f"{path}: a {package['klass']!r}, not demucs.htdemucs.HTDemucs")
    args, kwargs, state = package["args"], package["kwargs"], package["state"]
    parameters = inspect.signature(HTDemucs).parameters
    if tuple(args) or not isinstance(kwargs, dict) or set(kwargs) - set(parameters):
        unknown = sorted(set(kwargs) - set(parameters)) if isinstance(kwargs, dict) else kwargs
        raise SeparatorError(f"{path}: arguments HTDemucs does not take (args {args!r}, kwargs {unknown})")
    if VOCALS not in kwargs.get("sources", ()):
        raise SeparatorError(f"{path}: its sources {kwargs.get('sources')} have no {VOCALS!r}")
    if kwargs.get("audio_channels", 2) != 2:
        raise SeparatorError(f"{path}: a model of {kwargs['audio_channels']} audio channels, not stereo")
    if not isinstance(state, dict) or state.get("__quantized"):
        raise SeparatorError(f"{path}: its state is not a plain state dict (a quantized model?)")
    model: HTDemucs = HTDemucs(**kwargs)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        raise SeparatorError(f"{path}: state does not match its HTDemucs ({len(missing)} missing {missing[:5]}, "
                             f"{len(unexpected)} unexpected {unexpected[:5]}, shapes differ {shapes[:5]})")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    model.float().eval().requires_grad_(False)
    return model


@dataclass
class Separator:
    """Splits songs into vocals and accompaniment (``separate``)."""

    model: HTDemucs
    device: torch.device

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Separator:
        """The separator in the published checkpoint ``path`` (strictly; ``SeparatorError`` otherwise), in float32
        on ``device`` (``auto``: a GPU where there is one)."""
        model = build_model(read_checkpoint(path), path)
        target = torch.device(resolve_device(str(device)))
        return cls(model.to(target), target)

    @classmethod
    def from_bundle(cls, bundle: Bundle, device: str | torch.device = "cpu") -> Separator:
        """The bundle's separator; ``StemsUnavailable`` (an ``InputError``) where it has none."""
        if bundle.stems is None:
            raise StemsUnavailable()
        return cls.load(bundle.stems, device)

    @property
    def samplerate(self) -> int:
        return int(self.model.samplerate)

    @property
    def sources(self) -> list[str]:
        return list(self.model.sources)

    def separate(self, audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
        """``(vocals, accompaniment)`` of ``audio`` (float [samples, 2], or mono [samples] / [samples, 1]) at
        ``rate``: float32 arrays of the input's shape at its rate, ``vocals + accompaniment == audio`` (to float32
        rounding). Audio at another rate than the model's (44.1 kHz) is resampled for it, and its vocals back.
        ``ValueError`` for empty, non-finite or more-than-stereo audio."""
        mix = np.asarray(audio, dtype=np.float32)
        if mix.ndim not in (1, 2) or (mix.ndim == 2 and mix.shape[1] not in (1, 2)):
            raise ValueError(f"audio must be [samples], [samples, 1] or [samples, 2]; got shape {mix.shape}")
        if mix.shape[0] == 0 or rate <= 0:
            raise ValueError(f"nothing to separate ({mix.shape[0]} samples at {rate} Hz)")
        if not np.isfinite(mix).all():
            raise ValueError("the audio to separate is not finite")
        vocals = self._vocals(mix.reshape(mix.shape[0], -1), rate).reshape(mix.shape)
        return vocals, mix - vocals

    @torch.inference_mode()
    def _vocals(self, mix: np.ndarray, rate: int) -> np.ndarray:
        """The vocals of ``mix`` [samples, channels] at ``rate``, [samples, channels] float32."""
        from demucs.apply import apply_model
        from julius.resample import resample_frac

        samples, channels = mix.shape
        wave = torch.from_numpy(np.ascontiguousarray(mix.T)).to(self.device)
        wave = wave.repeat(2, 1) if channels == 1 else wave  # the model's two channels
        if rate != self.samplerate:
            wave = resample_frac(wave, rate, self.samplerate, full=True)
        reference = wave.mean(0)
        spread = reference.std() if reference.numel() > 1 else reference.new_zeros(())  # one sample: no spread
        mean, std = reference.mean(), spread + 1e-8
        estimates = apply_model(self.model, ((wave - mean) / std)[None], shifts=0, split=True, overlap=OVERLAP,
                                device=self.device, progress=False, num_workers=0)
        vocals = estimates[0, self.sources.index(VOCALS)] * std
        if rate != self.samplerate:
            vocals = resample_frac(vocals, self.samplerate, rate, output_length=samples)
        if channels == 1:
            vocals = vocals.mean(0, keepdim=True)
        result: np.ndarray = vocals.T.float().cpu().numpy()
        return np.ascontiguousarray(result)
