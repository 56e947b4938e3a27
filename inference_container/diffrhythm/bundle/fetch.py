"""Fetching a real bundle: the licence gate, the manifest, and ``fetch_weights`` (each artifact through
``download.Fetcher``, then the load check of ``check.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from inference_container.diffrhythm.bundle.check import check_loads
from inference_container.diffrhythm.bundle.download import Fetcher, download_url, link_mulan_towers
from inference_container.diffrhythm.bundle.layout import MANIFEST, REAL_KIND, REJECTED
from inference_container.diffrhythm.bundle.reader import Bundle, BundleError, _sha256
from inference_container.diffrhythm.bundle.sources import ARTIFACTS, Artifact, RemoteFile, artifacts_for
from shared.timeline import VARIANTS

NONCOMMERCIAL_FLAG = "--accept-noncommercial"
NONCOMMERCIAL_BUILD_ARG = "ACCEPT_NONCOMMERCIAL_WEIGHTS"  # the image's build argument that passes the flag


class LicenceError(BundleError):
    """The bundle asked for holds weights under terms not accepted by the caller; the message names them."""


def check_licences(artifacts: Sequence[Artifact], accept_noncommercial: bool) -> None:
    """``LicenceError`` if ``artifacts`` hold non-commercial weights and ``accept_noncommercial`` is False."""
    restricted = [a for a in artifacts if a.licence.non_commercial]
    if restricted and not accept_noncommercial:
        names = ", ".join(f"{a.target} ({a.licence.id})" for a in restricted)
        raise LicenceError(
            f"the bundle holds non-commercial weights: {names}; {restricted[0].licence.name} "
            f"({restricted[0].licence.url}) allows {restricted[0].licence.terms}. Fetch them only for a deployment "
            f"that may use them so: pass {NONCOMMERCIAL_FLAG} (docker build: --build-arg {NONCOMMERCIAL_BUILD_ARG}=1)")


def write_manifest(root: Path, kind: str, variants: tuple[str, ...], sources: dict[str, str],
                   artifacts: Mapping[str, Artifact] | None = None, notes: Mapping[str, dict[str, Any]] | None = None,
                   accepted_noncommercial: bool = False) -> Bundle:
    """Record every file under ``root`` (sizes, sha256, where it came from). ``sources`` and ``artifacts`` map a
    path (a file, or a folder and everything under it; "" for all) to its source and its table entry, whose name
    and licence each file's entry then names; ``notes`` adds facts to single files' entries (what a file was
    converted from)."""
    files = {}

    def owner(name: str, table: Mapping[str, Any]) -> Any:
        return next((v for k, v in sorted(table.items(), key=lambda kv: -len(kv[0]))
                     if not k or name == k or name.startswith(k + "/")), None)

    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name not in (MANIFEST, REJECTED)):
        name = path.relative_to(root).as_posix()
        if "/.cache/" in f"/{name}":
            continue  # huggingface_hub's download bookkeeping
        files[name] = {"bytes": path.stat().st_size, "sha256": _sha256(path), "source": owner(name, sources) or ""}
        artifact = owner(name, artifacts or {})
        if artifact is not None:
            files[name] |= {"artifact": artifact.name, "licence": artifact.licence.id}
        files[name] |= (notes or {}).get(name, {})
    manifest: dict[str, Any] = {"format": 1, "kind": kind, "variants": list(variants), "files": files}
    if artifacts:
        manifest["licences"] = {a.name: a.licence.entry() for a in artifacts.values()}
        manifest["accepted_noncommercial"] = accepted_noncommercial
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False))
    return Bundle(root)


def fetch_weights(root: str | Path, variants: tuple[str, ...] = tuple(VARIANTS), hub: Any = None, *,
                  stems: bool = True, accept_noncommercial: bool = False, table: Sequence[Artifact] = ARTIFACTS,
                  mirrors: Mapping[str, str] | None = None, check: bool = True,
                  say: Callable[[str], None] = lambda line: None) -> Bundle:
    """Fetch every artifact of the bundle (``artifacts_for``) into ``root``, write its manifest, and load it as the
    worker does (``check.check_loads``, unless ``check`` is False); ``BundleError`` naming the file and the
    reason otherwise, leaving no manifest (a folder that failed its check keeps it as ``manifest.rejected.json``).

    ``LicenceError`` before anything is downloaded if the bundle holds non-commercial weights (MuQ-MuLan) and
    ``accept_noncommercial`` is False. ``hub`` defaults to the ``huggingface_hub`` module (tests pass a stand-in
    with its ``hf_hub_download`` and ``snapshot_download``); ``mirrors`` maps URL prefixes to others (a proxy, or a
    test's server); ``say`` gets a line per artifact fetched and per check passed.
    """
    wanted = artifacts_for(variants, stems, table)
    check_licences(wanted, accept_noncommercial)
    if hub is None:
        import huggingface_hub as hub
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for stale in (MANIFEST, REJECTED):
        (root / stale).unlink(missing_ok=True)  # a folder being fetched is never a bundle
    fetcher = Fetcher(root, hub, mirrors or {}, say)
    try:
        placed = [fetcher.fetch(artifact) for artifact in wanted]
    finally:
        fetcher.clean()
    notes = {path: note for fetched in placed for path, note in fetched.notes.items()}
    notes |= link_mulan_towers(root, {a.name: a for a in wanted})
    bundle = write_manifest(root, REAL_KIND, tuple(variants), {p.artifact.target: p.source for p in placed},
                            {p.artifact.target: p.artifact for p in placed}, notes, accept_noncommercial)
    if check:
        try:
            check_loads(bundle, say)
        except BundleError:
            (root / MANIFEST).replace(root / REJECTED)
            raise
    return bundle


def fetch_file(remote: RemoteFile, target: Path, timeout_s: float = 60.0) -> Path:
    """Download ``remote`` to ``target`` (through ``target.partial``, renamed only once its sha256 is the pinned
    one); ``BundleError`` otherwise, leaving nothing at ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        digest = download_url(remote.url, partial, timeout_s)
        if digest != remote.sha256:
            raise BundleError(f"{remote.url}: sha256 {digest}, expected {remote.sha256}")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target
