"""The weights bundle: every file the pipeline needs, in one directory, with a manifest that verifies it.

Layout::

    manifest.json               kind ("diffrhythm" or the tiny test label), variants, every file's size, sha256,
                                source, artifact and licence, and each artifact's licence (``Bundle.licences``)
    dit/config.json             upstream's config/diffrhythm-1b.json
    dit/95s/cfm_model.pt        ASLP-lab/DiffRhythm-1_2
    dit/full/cfm_model.pt       ASLP-lab/DiffRhythm-1_2-full
    vae/vae_model.pt            ASLP-lab/DiffRhythm-vae (TorchScript)
    style/muq-mulan/            OpenMuQ/MuQ-MuLan-large (model.safetensors: converted at fetch time where the Hub has
                                only pytorch_model.bin), its config naming the two towers below by folder name
    style/MuQ-large-msd-iter/   the audio tower (OpenMuQ/MuQ-large-msd-iter)
    style/xlm-roberta-base/     the text tower and its tokenizer (FacebookAI/xlm-roberta-base)
    style/negative_prompt.npy   upstream's negative style embedding (infer/example/vocal.npy), [1, 512]
    g2p/vocab.json              upstream's phoneme vocabulary
    g2p/chinese_lexicon.txt     upstream's Mandarin lexicon
    g2p/g2p_chinese_model/      upstream's polyphone model: poly_bert_model.onnx, polychar.txt, polydict.json,
                                polydict_r.json, vocab.txt, config.json
    stems/htdemucs.th           optional: Demucs' published htdemucs (``HTDEMUCS``), which separates vocals from the
                                accompaniment (``stems.Separator``); without it ``Bundle.stems`` is None

and, after ``convert_weights`` (the image's build step after fetching):

    converted.json              every converted file: its precision, size, sha256, and its source's path and sha256
    dit/<variant>/cfm_model.<precision>.safetensors
                                the DiT's state dict (the published keys) cast to bf16, fp16 or fp32, with the same
                                facts in the file's safetensors metadata

``ARTIFACTS`` is the one table of what a real bundle holds: each artifact's bundle path, its sources in order (the
model repos on the Hugging Face Hub, upstream's GitHub repository at ``UPSTREAM_COMMIT``, the Hub Space at its own
paths), its size and sha256 where they are published, and its licence. ``fetch_weights`` takes each artifact from
its first source that gives the pinned file (``download.py``), writes the manifest, then loads the bundle as the
worker does (``load_check.py``); the pipeline then reads only this directory (``HF_HUB_OFFLINE=1`` works).
``Bundle.dit_choice`` picks the file to load a DiT from: a converted file in the precision wanted (or in fp32, cast
while loading) whose source is the bundle's published file, else that published ``.pt`` (which stays in the bundle:
the fallback, and the fp32 reference).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.licences import Licence, licence_of
from shared.timeline import FULL, SHORT, VARIANTS

MANIFEST = "manifest.json"
REJECTED = "manifest.rejected.json"  # the manifest of a fetched folder that failed its load check
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
CHINESE_MODEL_DIR = "g2p/g2p_chinese_model"
CHINESE_MODEL_FILES = ("poly_bert_model.onnx", "polychar.txt", "polydict.json", "polydict_r.json", "vocab.txt",
                       "config.json")
STEMS_FILE = "stems/htdemucs.th"
REAL_KIND = "diffrhythm"


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


NONCOMMERCIAL_FLAG = "--accept-noncommercial"
NONCOMMERCIAL_BUILD_ARG = "ACCEPT_NONCOMMERCIAL_WEIGHTS"  # the image's build argument that passes the flag


@dataclass(frozen=True)
class Source:
    """One place an artifact is published: a file (or, for a folder artifact, the files matching ``files``) in a
    Hugging Face Hub repository (``kind`` "model" or "space"), or a URL (``kind`` "url")."""

    kind: str
    location: str  # the repository id, or the URL
    path: str = ""  # the file in the repository
    revision: str | None = None  # a commit; None: the repository's main branch
    files: tuple[str, ...] = ()  # folder artifacts: the repository's files to take (glob patterns)

    def __str__(self) -> str:
        if self.kind == "url":
            return self.location
        at = f"@{self.revision[:12]}" if self.revision else ""
        return f"{self.kind}:{self.location}{at}" + (f"/{self.path}" if self.path else "")


@dataclass(frozen=True)
class Artifact:
    """One entry of the table: a file (or a folder, ``folder``) of the bundle and where it is published.

    ``sha256`` and ``size`` pin the published file where they are known (None: accepted as the first source gives
    it, and loaded by the check at the end of ``fetch_weights``); ``form`` is the format it must have ("zip": a
    torch or TorchScript archive, "json", "npy", "text", "onnx", "safetensors"). A folder artifact takes its
    source's ``files``; its weights are ``model.safetensors``, converted from the repository's ``pytorch_model.bin``
    where it has only that; ``pins`` pins files of the repository by name."""

    name: str
    target: str
    sources: tuple[Source, ...]
    sha256: str | None = None
    size: int | None = None
    form: str | None = None
    variant: str | None = None  # a DiT: fetched only for this variant
    folder: bool = False
    pins: Mapping[str, str] = field(default_factory=dict)
    optional: bool = False  # the stems separator: a bundle may go without

    @property
    def licence(self) -> Licence:
        """The terms it is published under (``shared.licences``, the one table of them)."""
        return licence_of(self.name)


#: upstream's GitHub repository, at the commit whose files the table pins
UPSTREAM = "ASLP-lab/DiffRhythm"
UPSTREAM_COMMIT = "28ad63c0f096fe2ee258bcabbcf081d5d9366afd"
SPACE = "ASLP-lab/DiffRhythm"  # upstream's Hub Space: the same files under its own paths (diffrhythm/..., src/...)
DIT_95S_REVISION = "185bdeb80541b9260d266c5f041859017441f307"  # ASLP-lab/DiffRhythm-1_2's "v1_2" commit


def _github(path: str, lfs: bool = False) -> Source:
    """A file of upstream's repository at ``UPSTREAM_COMMIT``: raw, or through the Git LFS media URL for a file
    that Git LFS stores (raw, those give a pointer, not the file)."""
    base = "https://media.githubusercontent.com/media" if lfs else "https://raw.githubusercontent.com"
    return Source("url", f"{base}/{UPSTREAM}/{UPSTREAM_COMMIT}/{path}")


def _space(path: str) -> Source:
    return Source("space", SPACE, path)


def _chinese_model(name: str, sha256: str | None, size: int | None, form: str) -> Artifact:
    lfs = name.endswith(".onnx")
    return Artifact(f"chinese-g2p/{name}", f"{CHINESE_MODEL_DIR}/{name}",
                    (_github(f"g2p/sources/g2p_chinese_model/{name}", lfs),
                     _space(f"diffrhythm/g2p/sources/g2p_chinese_model/{name}")), sha256, size, form)


#: Every artifact of a real bundle. Hashes: the upstream repository's blobs at UPSTREAM_COMMIT, and the Hub's
#: published LFS pointers. Left unpinned: the full DiT and the towers (no published hash found), the VAE (two
#: different vae_model.pt hashes are published, cbf5e34d... in the repository's first commit and 712693f2... in a
#: copy of a later one) and the polyphone ONNX model; each is loaded by the check that ends ``fetch_weights``.
ARTIFACTS: tuple[Artifact, ...] = (
    Artifact("dit-95s", dit_file(SHORT.name),
             (Source("model", "ASLP-lab/DiffRhythm-1_2", "cfm_model.pt", DIT_95S_REVISION),),
             "3e819b317ce2cf1fb22f386d74f351b697204ec1f57f03edfe50dbca71cf0768", 2218709125, "zip",
             variant=SHORT.name),
    Artifact("dit-full", dit_file(FULL.name),
             (Source("model", "ASLP-lab/DiffRhythm-1_2-full", "cfm_model.pt"),), form="zip", variant=FULL.name),
    Artifact("dit-config", DIT_CONFIG,
             (Source("model", "ASLP-lab/DiffRhythm-1_2", "config.json", DIT_95S_REVISION),
              _github("config/diffrhythm-1b.json"), _space("diffrhythm/config/config.json")),
             "e04d3c78b48a102c81c1a7fc88183cb15956e6635ad39b58e258f0c3763d9667", 247, "json"),
    Artifact("vae", VAE_FILE, (Source("model", "ASLP-lab/DiffRhythm-vae", "vae_model.pt"),),
             form="zip"),
    Artifact("muq-mulan", f"{STYLE_DIR}/{MULAN_DIR}",
             (Source("model", "OpenMuQ/MuQ-MuLan-large", files=("config.json", "model.safetensors")),),
             folder=True,
             pins={"pytorch_model.bin": "d42ae3f7cb9b66759ee0089ddc70e2f28b130c2d8ba621457358272d32dd0444"}),
    Artifact("muq-audio-tower", f"{STYLE_DIR}/MuQ-large-msd-iter",
             (Source("model", "OpenMuQ/MuQ-large-msd-iter", files=("config.json", "model.safetensors")),),
             folder=True),
    Artifact("muq-text-tower", f"{STYLE_DIR}/xlm-roberta-base",
             (Source("model", "FacebookAI/xlm-roberta-base",
                     files=("config.json", "model.safetensors", "sentencepiece.bpe.model", "tokenizer.json",
                            "tokenizer_config.json", "special_tokens_map.json")),),
             folder=True),
    Artifact("negative-style", NEGATIVE_STYLE,
             (_github("infer/example/vocal.npy"), _space("src/negative_prompt.npy")),
             "6cb7d74eb7a8eda12acb8247b21d373928301db8a8cb0db480d341799fed3ce5", 2176, "npy"),
    Artifact("vocab", VOCAB, (_github("g2p/g2p/vocab.json"), _space("diffrhythm/g2p/g2p/vocab.json")),
             "0f5c44e05f79df8ae4fd77d7772950436a8bacc83d134fdf0ae3c72412b5676a", 5802, "json"),
    Artifact("chinese-lexicon", LEXICON,
             (_github("g2p/sources/chinese_lexicon.txt", lfs=True),
              _space("diffrhythm/g2p/sources/chinese_lexicon.txt")),
             "a3a7685d1c3e68eb2fa304bfc63e90c90c3c1a1948839a5b1b507b2131b3e2fb", form="text"),
    _chinese_model("poly_bert_model.onnx", None, None, "onnx"),
    _chinese_model("polychar.txt", "9df819e371415c23e26a2907236a0228ef93772cc698d93dc0c18844956d1011", 636, "text"),
    _chinese_model("polydict.json", "ec6c8bd6d223205f48a17a07720bc594c20b3eab5460175414f7ebee1e66b6b9", 8210, "json"),
    _chinese_model("polydict_r.json", "386e90aecf0f9bdbeac41541d7013e347594188962e17c7daee83caf40d993d2", 7428,
                   "json"),
    _chinese_model("vocab.txt", "366fe2b1318c774fd28bdea58dbcfbd6d6aeae313fdcd9063d170cdc602fd51a", 109534, "text"),
    _chinese_model("config.json", "5a16b71fe399bfa6114053a1e249665c0d7921a6a1c10b3f530cb7d213f8a735", 18485, "json"),
    Artifact("stems", STEMS_FILE, (Source("url", HTDEMUCS.url),), HTDEMUCS.sha256, optional=True),
)
#: the towers MuQ-MuLan's published config names (part -> names it may use), and the artifacts that hold them
MULAN_TOWERS = {"audio_model": (("OpenMuQ/MuQ-large-msd-iter",), "muq-audio-tower"),
                "text_model": (("xlm-roberta-base", "FacebookAI/xlm-roberta-base"), "muq-text-tower")}


def artifacts_for(variants: Sequence[str], stems: bool = True,
                  table: Sequence[Artifact] = ARTIFACTS) -> tuple[Artifact, ...]:
    """The artifacts of a bundle with these DiT ``variants`` (and the stems separator, unless ``stems`` is False).

    Example
    -------
    >>> [a.name for a in artifacts_for(["full"], stems=False)][:3]
    ['dit-full', 'dit-config', 'vae']
    """
    return tuple(a for a in table if (a.variant is None or a.variant in variants) and (stems or not a.optional))


class BundleError(ValueError):
    """The directory is not a complete, intact weights bundle; the message lists what is wrong."""


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
    worker does (``load_check.check_loads``, unless ``check`` is False); ``BundleError`` naming the file and the
    reason otherwise, leaving no manifest (a folder that failed its check keeps it as ``manifest.rejected.json``).

    ``LicenceError`` before anything is downloaded if the bundle holds non-commercial weights (MuQ-MuLan) and
    ``accept_noncommercial`` is False. ``hub`` defaults to the ``huggingface_hub`` module (tests pass a stand-in
    with its ``hf_hub_download`` and ``snapshot_download``); ``mirrors`` maps URL prefixes to others (a proxy, or a
    test's server); ``say`` gets a line per artifact fetched and per check passed.
    """
    from inference_container.diffrhythm.download import Fetcher, link_mulan_towers

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
        from inference_container.diffrhythm.load_check import check_loads

        try:
            check_loads(bundle, say)
        except BundleError:
            (root / MANIFEST).replace(root / REJECTED)
            raise
    return bundle


def fetch_file(remote: RemoteFile, target: Path, timeout_s: float = 60.0) -> Path:
    """Download ``remote`` to ``target`` (through ``target.partial``, renamed only once its sha256 is the pinned
    one); ``BundleError`` otherwise, leaving nothing at ``target``."""
    from inference_container.diffrhythm.download import download_url

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
