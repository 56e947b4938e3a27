"""The weights bundle: every file the pipeline needs, in one directory, with a manifest that verifies it.

Layout::

    manifest.json               kind ("diffrhythm" or the tiny test label), variants, every file's size and sha256
    dit/config.json             upstream's config/diffrhythm-1b.json
    dit/95s/cfm_model.pt        ASLP-lab/DiffRhythm-1_2
    dit/full/cfm_model.pt       ASLP-lab/DiffRhythm-1_2-full
    vae/vae_model.pt            ASLP-lab/DiffRhythm-vae (TorchScript)
    style/muq-mulan/            OpenMuQ/MuQ-MuLan-large, its config naming the two towers below by folder name
    style/<audio tower>/        the MuQ model named in that config
    style/<text tower>/         the XLM-R model named in that config
    style/negative_prompt.npy   upstream's negative style embedding (infer/example/vocal.npy)
    g2p/vocab.json              upstream's phoneme vocabulary
    g2p/chinese_lexicon.txt     upstream's Mandarin lexicon (word<TAB>pinyin)
    stems/htdemucs.th           optional: Demucs' published htdemucs (``HTDEMUCS``), which separates vocals from the
                                accompaniment (``stems.Separator``); without it ``Bundle.stems`` is None

and, after ``convert_weights`` (the image's build step after fetching):

    converted.json              every converted file: its precision, size, sha256, and its source's path and sha256
    dit/<variant>/cfm_model.<precision>.safetensors
                                the DiT's state dict (the published keys) cast to bf16, fp16 or fp32, with the same
                                facts in the file's safetensors metadata

``fetch_weights`` downloads it through huggingface_hub at image build time (the separator from its published URL,
kept only with its published sha256); the pipeline then reads only this directory (``HF_HUB_OFFLINE=1`` works).
``Bundle.dit_choice`` picks the file to load a DiT from: a converted file in the precision wanted (or in fp32, cast
while loading) whose source is the bundle's published file, else that published ``.pt`` (which stays in the bundle:
the fallback, and the fp32 reference).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.timeline import FULL, SHORT, VARIANTS

MANIFEST = "manifest.json"
CONVERTED = "converted.json"  # the converted files' manifest, beside MANIFEST
CONVERTED_CONTENT = "diffrhythm-dit"  # the "content" a converted file's safetensors metadata names
# The layout (paths relative to the bundle's root): the one place that names them
DIT_CONFIG = "dit/config.json"
VAE_FILE = "vae/vae_model.pt"
STYLE_DIR = "style"
MULAN_DIR = "muq-mulan"  # under STYLE_DIR: MuQ-MuLan itself, beside the two towers its config names
NEGATIVE_STYLE = f"{STYLE_DIR}/negative_prompt.npy"
VOCAB = "g2p/vocab.json"
LEXICON = "g2p/chinese_lexicon.txt"
STEMS_FILE = "stems/htdemucs.th"
REAL_KIND = "diffrhythm"
DIT_REPOS = {SHORT.name: "ASLP-lab/DiffRhythm-1_2", FULL.name: "ASLP-lab/DiffRhythm-1_2-full"}
VAE_REPO = "ASLP-lab/DiffRhythm-vae"
MULAN_REPO = "OpenMuQ/MuQ-MuLan-large"
#: upstream's data files, from its Hugging Face Space (repo_type "space"): bundle path -> file in the Space
SPACE_REPO = "ASLP-lab/DiffRhythm"
SPACE_FILES = {
    DIT_CONFIG: "config/diffrhythm-1b.json",
    VOCAB: "g2p/g2p/vocab.json",
    LEXICON: "g2p/sources/chinese_lexicon.txt",
    NEGATIVE_STYLE: "infer/example/vocal.npy",
}


def dit_file(variant: str) -> str:
    """Where a variant's DiT checkpoint lies in a bundle (relative path).

    Example
    -------
    >>> dit_file("full")
    'dit/full/cfm_model.pt'
    """
    return f"dit/{variant}/cfm_model.pt"


def converted_file(variant: str, precision: str) -> str:
    """Where a variant's DiT converted to ``precision`` lies in a bundle (relative path).

    Example
    -------
    >>> converted_file("95s", "bf16")
    'dit/95s/cfm_model.bf16.safetensors'
    """
    return f"dit/{variant}/cfm_model.{precision}.safetensors"


@dataclass(frozen=True)
class RemoteFile:
    """A file fetched from a URL, accepted only with this sha256."""

    url: str
    sha256: str


#: Demucs v4's htdemucs (MIT): the file ``demucs.pretrained`` fetches for "htdemucs" (signature 955717e8); its name's
#: suffix is the start of this sha256, which others who pin it publish in full
HTDEMUCS = RemoteFile("https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/955717e8-8726e21a.th",
                      "8726e21a993978c7ba086d3872e7608d7d5bfca646ca4aca459ffda844faa8b4")


class BundleError(ValueError):
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
    def vocab(self) -> Path:
        return self.root / VOCAB

    @property
    def lexicon(self) -> Path:
        return self.root / LEXICON

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


def write_manifest(root: Path, kind: str, variants: tuple[str, ...], sources: dict[str, str]) -> Bundle:
    """Record every file under ``root`` (sizes, sha256, where it came from)."""
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        name = path.relative_to(root).as_posix()
        if "/.cache/" in f"/{name}":
            continue  # huggingface_hub's download bookkeeping
        source = next((v for k, v in sorted(sources.items(), key=lambda kv: -len(kv[0]))
                       if not k or name == k or name.startswith(k + "/")), "")
        files[name] = {"bytes": path.stat().st_size, "sha256": _sha256(path), "source": source}
    manifest = {"format": 1, "kind": kind, "variants": list(variants), "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return Bundle(root)


def fetch_weights(root: str | Path, variants: tuple[str, ...] = tuple(VARIANTS), hub: Any = None,
                  stems: RemoteFile | None = HTDEMUCS) -> Bundle:
    """Download every file the pipeline needs into ``root`` and write its manifest (huggingface_hub shows progress).

    ``hub`` defaults to the ``huggingface_hub`` module (tests pass a stand-in with the same two functions). ``stems``
    is the separator's file (None: a bundle without stems); it is loaded once here, so a file the worker could not
    load fails the build rather than the first job that asks for stems.
    """
    if hub is None:
        import huggingface_hub as hub
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    sources: dict[str, str] = {}

    def place(repo: str, filename: str, target: str, repo_type: str = "model") -> None:
        downloaded = Path(hub.hf_hub_download(repo_id=repo, filename=filename, repo_type=repo_type))
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(downloaded, root / target)
        sources[target] = f"{repo_type}:{repo}/{filename}"

    for variant in variants:
        place(DIT_REPOS[variant], "cfm_model.pt", dit_file(variant))
    place(VAE_REPO, "vae_model.pt", VAE_FILE)
    for target, filename in SPACE_FILES.items():
        place(SPACE_REPO, filename, target, repo_type="space")
    _fetch_mulan(hub, root / STYLE_DIR, sources)
    if stems is not None:
        from inference_container.diffrhythm.stems import Separator

        fetch_file(stems, root / STEMS_FILE)
        Separator.load(root / STEMS_FILE)
        sources[STEMS_FILE] = stems.url
    return write_manifest(root, REAL_KIND, tuple(variants), sources)


def fetch_file(remote: RemoteFile, target: Path, timeout_s: float = 60.0) -> Path:
    """Download ``remote`` to ``target`` (through ``target.partial``, renamed only once its sha256 is the pinned
    one); ``BundleError`` otherwise, leaving nothing at ``target``."""
    import urllib.request

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(remote.url, timeout=timeout_s) as response, partial.open("wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != remote.sha256:
            raise BundleError(f"{remote.url}: sha256 {digest.hexdigest()}, expected {remote.sha256}")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _fetch_mulan(hub: Any, style: Path, sources: dict[str, str]) -> None:
    """MuQ-MuLan and the two towers its config names, with the config rewritten to name them by folder."""
    mulan = style / MULAN_DIR
    hub.snapshot_download(repo_id=MULAN_REPO, local_dir=str(mulan), allow_patterns=["config.json", "*.safetensors"])
    config = json.loads((mulan / "config.json").read_text())
    for part in ("audio_model", "text_model"):
        repo = config[part]["name"]
        folder = repo.split("/")[-1]
        hub.snapshot_download(repo_id=repo, local_dir=str(style / folder))
        config[part]["name"] = folder
        sources[f"{STYLE_DIR}/{folder}"] = f"model:{repo}"
    (mulan / "config.json").write_text(json.dumps(config, indent=1))
    sources[f"{STYLE_DIR}/{MULAN_DIR}"] = f"model:{MULAN_REPO}"


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
