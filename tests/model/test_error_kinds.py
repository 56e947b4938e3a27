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
