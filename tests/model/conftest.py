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


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list:
    """The SongRequests ``diffrhythm generate`` hands the pipeline (the pipeline then refuses each, so nothing is
    generated)."""
    from inference_container.diffrhythm.pipeline import Pipeline
    from inference_container.errors import InputError

    seen: list = []

    class Capture:
        def generate(self, request: object, progress: object) -> None:
            seen.append(request)
            raise InputError("captured")

    monkeypatch.setattr(Pipeline, "load", lambda *_, **__: Capture())
    return seen
