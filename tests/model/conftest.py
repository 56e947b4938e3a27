"""Model tests (the [worker] extra: torch, muq, espeak-ng): tiny random models and the golden folders."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parents[2].parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden_95s() -> Path:
    folder = GOLDEN / "dit-95s"
    assert folder.is_dir(), f"golden vectors expected at {folder}"
    return folder


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A TINY RANDOM weights bundle (make-test-weights), shared by the session."""
    from inference_container.diffrhythm.tiny import make_test_weights

    return make_test_weights(tmp_path_factory.mktemp("tiny-bundle"))


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_bundle):
    from inference_container.diffrhythm.pipeline import Pipeline

    return Pipeline.load(str(tiny_bundle), device="cpu", dtype="fp32")
