"""Converting a bundle's DiTs to safetensors in the precisions the worker loads (the image's build step after
fetching), recorded in ``converted.json`` (``layout.CONVERTED``), which ``reader.Bundle.dit_choice`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inference_container.diffrhythm.bundle.layout import CONVERTED, CONVERTED_CONTENT, converted_file, dit_file
from inference_container.diffrhythm.bundle.reader import Bundle, BundleError, _sha256
from shared.timeline import VARIANTS


def convert_weights(root: str | Path, precisions: tuple[str, ...] = ("bf16",),
                    variants: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
    """Write each DiT of the bundle at ``root`` as safetensors in each of ``precisions`` and record them in
    ``converted.json`` (replacing entries for the same files); returns the entries written.

    The published file is hashed first and must match the manifest (a damaged bundle is not converted); the
    converted file's metadata and ``converted.json`` both record that hash, so a file converted from another
    checkpoint is never loaded in its place. The published ``.pt`` stays: the fallback and the fp32 reference.
    """
    from inference_container.diffrhythm.checkpoint import convert_checkpoint
    from inference_container.diffrhythm.config import DiTConfig

    bundle = Bundle(Path(root))
    files = bundle.manifest["files"]
    written: dict[str, dict[str, Any]] = {}
    for variant in variants or bundle.variants:
        source = dit_file(variant)
        digest = _sha256(bundle.dit(variant))
        if digest != files.get(source, {}).get("sha256"):
            raise BundleError(f"{bundle.root / source}: sha256 differs from the manifest; fetch the weights again")
        config = DiTConfig.from_json(bundle.dit_config, max_frames=VARIANTS[variant].max_frames)
        targets = {precision: bundle.root / converted_file(variant, precision) for precision in precisions}
        convert_checkpoint(bundle.root / source, targets, config,
                           {"content": CONVERTED_CONTENT, "source": source, "source_sha256": digest})
        for precision, path in targets.items():
            written[converted_file(variant, precision)] = {
                "precision": precision, "bytes": path.stat().st_size, "sha256": _sha256(path), "source": source,
                "source_sha256": digest}
    index = {"format": 1, "files": {**bundle.converted, **written}}
    partial = bundle.root / (CONVERTED + ".partial")
    partial.write_text(json.dumps(index, indent=1))
    partial.replace(bundle.root / CONVERTED)
    return written
