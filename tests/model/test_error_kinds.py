"""The model library's two kinds of error: the user's (``InputError``, a ``ValueError``) and ours (``ModelError``,
never a ``ValueError``, so no caller that treats ``ValueError`` as bad input mistakes a broken bundle for it)."""

from __future__ import annotations

import pytest

from inference_container.diffrhythm.bundle.fetch import LicenceError
from inference_container.diffrhythm.bundle.reader import BundleError
from inference_container.diffrhythm.checkpoint import CheckpointError
from inference_container.diffrhythm.g2p.polyphone import PolyphoneModelError
from inference_container.diffrhythm.stems import SeparatorError
from inference_container.errors import InputError, ModelError


@pytest.mark.parametrize("kind", [BundleError, LicenceError, CheckpointError, PolyphoneModelError, SeparatorError])
def test_a_broken_bundle_or_model_is_ours_not_bad_input(kind: type[Exception]):
    assert issubclass(kind, ModelError) and not issubclass(kind, ValueError)


def test_bad_input_stays_a_value_error():
    assert issubclass(InputError, ValueError) and not issubclass(InputError, ModelError)


@pytest.mark.parametrize(("error", "code", "says"), [
    (InputError("lyrics it cannot sing"), 2, "error: lyrics it cannot sing"),
    (CheckpointError("dit.safetensors: 3 missing"), 1, "error in the weights bundle"),
])
def test_generate_tells_bad_input_from_a_broken_bundle(tiny_bundle, tmp_path, monkeypatch, capsys, error, code, says):
    from inference_container.diffrhythm.pipeline import Pipeline
    from infrastructure.cli import main

    def refuse(*_: object, **__: object) -> None:
        raise error

    monkeypatch.setattr(Pipeline, "generate", refuse)
    lyrics = tmp_path / "song.lrc"
    lyrics.write_text("[00:01.00]Hello world\n", encoding="utf-8")
    assert main(["generate", "--weights", str(tiny_bundle), "--lyrics", str(lyrics), "--style", "pop, upbeat",
                 "--preset", "preview", "-o", str(tmp_path / "song.wav")]) == code
    assert says in capsys.readouterr().err
