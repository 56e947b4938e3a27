"""Reading a weights bundle (the layout of ``layout.py``): ``Bundle``, its manifest, ``verify``, and ``BundleError``.

``Bundle.dit_choice`` picks the file to load a DiT from: a converted file in the precision wanted (or in fp32, cast
while loading) whose source is the bundle's published file, else that published ``.pt`` (which stays in the bundle:
the fallback, and the fp32 reference).
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference_container.diffrhythm.bundle.layout import (
    CHINESE_MODEL_DIR,
    CHINESE_MODEL_FILES,
    CONVERTED,
    CONVERTED_CONTENT,
    DIT_CONFIG,
    LEXICON,
    MANIFEST,
    NEGATIVE_STYLE,
    REAL_KIND,
    STEMS_FILE,
    STYLE_DIR,
    VAE_FILE,
    VOCAB,
    WHISPER_DIR,
    converted_file,
    dit_file,
)
from inference_container.errors import ModelError


class BundleError(ModelError):
    """The directory is not a complete, intact weights bundle; the message lists what is wrong."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safetensors_metadata(path: Path) -> tuple[dict[str, str], int]:
    """A safetensors file's ``__metadata__`` and the size its header declares (header plus tensor data), read
    without torch; ``ValueError`` if the header is not one."""
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise ValueError("shorter than a safetensors header")
        (length,) = struct.unpack("<Q", prefix)
        if length > 100 << 20:
            raise ValueError("not a safetensors header")
        header = json.loads(handle.read(length))
    metadata = header.pop("__metadata__", None) or {}
    end = max((entry["data_offsets"][1] for entry in header.values()), default=0)
    return {str(k): str(v) for k, v in metadata.items()}, 8 + length + end


@dataclass(frozen=True)
class DiTChoice:
    """The file to load a variant's DiT from, and why converted files the bundle lists were passed over."""

    path: Path
    converted: bool
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Bundle:
    """A weights directory."""

    root: Path

    @property
    def manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        if not path.is_file():
            raise BundleError(f"{self.root} has no {MANIFEST}: create it with `diffrhythm fetch-weights` or "
                              "`diffrhythm make-test-weights`")
        manifest: dict[str, Any] = json.loads(path.read_text())
        return manifest

    @property
    def kind(self) -> str:
        """``diffrhythm`` for the real weights, else the tiny test label."""
        return str(self.manifest["kind"])

    @property
    def is_tiny(self) -> bool:
        return self.kind != REAL_KIND

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.manifest["variants"])

    def dit(self, variant: str) -> Path:
        if variant not in self.variants:
            raise BundleError(f"this bundle has no {variant} model (it has {', '.join(self.variants)}); fetch it "
                              f"with `diffrhythm fetch-weights --variants {variant}`")
        return self.root / dit_file(variant)

    @property
    def converted(self) -> dict[str, dict[str, Any]]:
        """``converted.json``'s files (relative path -> entry); empty where nothing was converted."""
        path = self.root / CONVERTED
        if not path.is_file():
            return {}
        files: dict[str, dict[str, Any]] = json.loads(path.read_text())["files"]
        return files

    def dit_choice(self, variant: str, precision: str) -> DiTChoice:
        """The file to load ``variant``'s DiT from for ``precision``: its converted file in that precision, else a
        converted fp32 one (cast while loading gives the same tensors as from the ``.pt``), else the published
        ``.pt``. A converted file is used only if its size is whole and its metadata names the precision and the
        published file's sha256 as the manifest records it; reading a header is all this costs."""
        published = self.dit(variant)
        source = dit_file(variant)
        expected = self.manifest["files"].get(source, {}).get("sha256")
        converted = self.converted
        refused: list[str] = []
        for wanted in dict.fromkeys((precision, "fp32")):
            name = converted_file(variant, wanted)
            if name not in converted:
                continue
            problem = self._converted_problem(name, converted[name], wanted, source, expected)
            if problem is None:
                return DiTChoice(self.root / name, True, refused)
            refused.append(f"{self.root / name}: {problem}; ignored (run `convert-weights {self.root}` again)")
        return DiTChoice(published, False, refused)

    def _converted_problem(self, name: str, entry: dict[str, Any], precision: str, source: str,
                           expected: str | None) -> str | None:
        """Why the converted file ``name`` cannot stand in for ``source`` in ``precision`` (None: it can)."""
        path = self.root / name
        if not path.is_file():
            return "listed in converted.json but missing"
        size = path.stat().st_size
        if size != entry.get("bytes"):
            return f"{size} bytes, converted.json records {entry.get('bytes')}"
        try:
            metadata, declared = safetensors_metadata(path)
        except (ValueError, KeyError, TypeError) as error:
            return f"unreadable safetensors header ({error})"
        if declared != size:
            return f"its header declares {declared} bytes, the file has {size}"
        if metadata.get("content") != CONVERTED_CONTENT or metadata.get("precision") != precision:
            return f"not a {precision} DiffRhythm DiT (metadata {metadata})"
        recorded = {metadata.get("source_sha256"), entry.get("source_sha256")}
        if expected is None or recorded != {expected}:
            return (f"converted from another {source} (source sha256 {', '.join(sorted(map(str, recorded)))}; "
                    f"the manifest's is {expected})")
        return None

    @property
    def dit_config(self) -> Path:
        return self.root / DIT_CONFIG

    @property
    def vae(self) -> Path:
        return self.root / VAE_FILE

    @property
    def style(self) -> Path:
        return self.root / STYLE_DIR

    @property
    def negative_style(self) -> Path:
        return self.root / NEGATIVE_STYLE

    @property
    def stems(self) -> Path | None:
        """The vocals/accompaniment separator, or None where the manifest lists none (stems unavailable)."""
        return self.root / STEMS_FILE if STEMS_FILE in self.manifest["files"] else None

    @property
    def whisper(self) -> Path | None:
        """The lyric check's Whisper checkpoint folder, or None where the manifest lists none."""
        return self.root / WHISPER_DIR if f"{WHISPER_DIR}/config.json" in self.manifest["files"] else None

    @property
    def vocab(self) -> Path:
        return self.root / VOCAB

    @property
    def lexicon(self) -> Path:
        return self.root / LEXICON

    @property
    def chinese_lexicon(self) -> Path | None:
        """Upstream's Mandarin lexicon, or None where the manifest lists none."""
        return self.root / LEXICON if LEXICON in self.manifest["files"] else None

    @property
    def chinese_model(self) -> Path | None:
        """The folder of upstream's polyphone model (``CHINESE_MODEL_FILES``), or None unless the manifest lists
        all of its files."""
        files = self.manifest["files"]
        return self.root / CHINESE_MODEL_DIR if all(f"{CHINESE_MODEL_DIR}/{name}" in files
                                                    for name in CHINESE_MODEL_FILES) else None

    @property
    def licences(self) -> dict[str, dict[str, Any]]:
        """Artifact name -> its licence (``Licence.entry``: id, name, url, non_commercial, terms); empty for a
        bundle that records none (the tiny test bundles)."""
        licences: dict[str, dict[str, Any]] = self.manifest.get("licences", {})
        return licences

    @property
    def non_commercial(self) -> tuple[str, ...]:
        """The artifacts whose licence forbids commercial use (their fetch needed ``--accept-noncommercial``)."""
        return tuple(name for name, entry in self.licences.items() if entry["non_commercial"])

    def verify(self, checksums: bool = True) -> None:
        """Raise ``BundleError`` unless every file of the manifest is present with its size (and sha256)."""
        problems = []
        for name, entry in self.manifest["files"].items():
            path = self.root / name
            if not path.is_file():
                problems.append(f"{name}: missing")
            elif path.stat().st_size != entry["bytes"]:
                problems.append(f"{name}: {path.stat().st_size} bytes, expected {entry['bytes']}")
            elif checksums and _sha256(path) != entry["sha256"]:
                problems.append(f"{name}: sha256 differs from the manifest")
        if problems:
            raise BundleError(f"{self.root} is damaged: " + "; ".join(problems))
