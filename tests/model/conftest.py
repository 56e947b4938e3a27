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
