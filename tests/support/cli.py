"""``diffrhythm generate`` run in-process, as a test reads it: its exit code, bad flags included."""

from __future__ import annotations

from pathlib import Path


def generate(bundle: Path, tmp_path: Path, *flags: str) -> int:
    """The exit code of ``diffrhythm generate --weights BUNDLE FLAGS -o TMP/song.wav`` (bad flags exit before any
    model is loaded)."""
    from infrastructure.cli import main

    try:
        return main(["generate", "--weights", str(bundle), *flags, "-o", str(tmp_path / "song.wav")])
    except SystemExit as refused:
        assert isinstance(refused.code, int)
        return refused.code
