"""Taking one artifact of the weights table (``sources.ARTIFACTS``) from the first of its sources that gives it as
pinned: a Hugging Face Hub file or repository snapshot, or a URL (upstream's GitHub files, raw or through Git LFS).

Every file is downloaded into ``.staging/`` inside the bundle and moved into place only once it passed its checks
(size, sha256, format; a Git LFS pointer or an HTML page is never taken for the file), so a failed source leaves
nothing behind and the next source is tried. A folder artifact's weights are ``model.safetensors``: where the
repository publishes only ``pytorch_model.bin``, that file is converted (``pickle_to_safetensors``: the same keys and
tensors) and dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference_container.diffrhythm.bundle.layout import MULAN_DIR, STYLE_DIR
from inference_container.diffrhythm.bundle.reader import BundleError, _sha256, safetensors_metadata
from inference_container.diffrhythm.bundle.sources import MULAN_TOWERS, Artifact, Source

STAGING = ".staging"
WEIGHTS = "model.safetensors"
PICKLED_WEIGHTS = "pytorch_model.bin"
_LFS_POINTER = b"version https://git-lfs.github.com/spec/"


@dataclass(frozen=True)
class Placed:
    """An artifact in place: the source it came from, and facts for single files' manifest entries."""

    artifact: Artifact
    source: str
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)


def download_url(url: str, target: Path, timeout_s: float = 60.0) -> str:
    """Stream ``url`` into ``target``; returns its sha256."""
    import urllib.request

    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout_s) as response, target.open("wb") as out:
        for block in iter(lambda: response.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def file_problem(path: Path, size: int | None = None, sha256: str | None = None, form: str | None = None
                 ) -> str | None:
    """Why ``path`` is not the file pinned by ``size``, ``sha256`` and ``form`` (None: it is)."""
    actual = path.stat().st_size
    with path.open("rb") as handle:
        start = handle.read(512)
    if start.startswith(_LFS_POINTER):
        return "a Git LFS pointer, not the file it points to"
    if start.lstrip()[:15].lower() in (b"<!doctype html>", b"<html>") or start.lstrip()[:6].lower() == b"<html ":
        return "an HTML page, not the file"
    if size is not None and actual != size:
        return f"{actual} bytes, expected {size}"
    if sha256 is not None and (digest := _sha256(path)) != sha256:
        return f"sha256 {digest}, expected {sha256}"
    return _form_problem(path, start, form)


def _form_problem(path: Path, start: bytes, form: str | None) -> str | None:
    """Why ``path`` (beginning with ``start``) is not in ``form``."""
    if form == "zip" and not zipfile.is_zipfile(path):
        return "not a zip archive (torch and TorchScript files are)"
    if form == "npy" and not start.startswith(b"\x93NUMPY"):
        return "not a NumPy .npy file"
    if form == "onnx" and start[:1] != b"\x08":
        return "not an ONNX model (a ModelProto starts with its ir_version)"
    if form in ("json", "text"):
        try:
            text = path.read_text(encoding="utf-8")
            if form == "json":
                json.loads(text)
        except (UnicodeDecodeError, ValueError) as error:
            return f"not {'JSON' if form == 'json' else 'UTF-8 text'} ({error})"
    if form == "safetensors":
        try:
            _, declared = safetensors_metadata(path)
        except (ValueError, KeyError, TypeError) as error:
            return f"not a safetensors file ({error})"
        if declared != path.stat().st_size:
            return f"its safetensors header declares {declared} bytes, the file has {path.stat().st_size}"
    return None


def pickle_to_safetensors(source: Path, target: Path, name: str) -> list[str]:
    """Write the state dict pickled in ``source`` (``torch.save``; read with ``weights_only``) as safetensors at
    ``target``, key for key, and check that the file holds exactly those keys, shapes and dtypes. Tensors that are
    the same tensor under several names (tied weights) are written once, under the first name, as ``save_model``
    writes them; returns the names left out. ``BundleError`` naming ``name`` if the file is not a flat state dict."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable pickle is the file's fault
        raise BundleError(f"{name}: not a torch state dict ({type(error).__name__}: {error})") from error
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise BundleError(f"{name}: not a flat state dict of named tensors (a {type(state).__name__})")
    kept: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, tuple[int, ...], tuple[int, ...], torch.dtype]] = set()
    aliases = []
    for key in sorted(state):
        tensor = state[key]
        identity = (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype)
        if tensor.numel() and identity in seen:
            aliases.append(key)
        else:
            seen.add(identity)
            kept[key] = tensor
    owners = Counter(t.untyped_storage().data_ptr() for t in kept.values() if t.numel())
    # views of one storage are written apart (safetensors refuses tensors that share memory)
    tensors = {key: t.clone(memory_format=torch.contiguous_format)
               if t.numel() and owners[t.untyped_storage().data_ptr()] > 1 else t.contiguous()
               for key, t in kept.items()}
    save_file(tensors, str(target), metadata={"format": "pt", "converted_from": source.name,
                                               "aliases": json.dumps(aliases)})
    with safe_open(str(target), "pt") as written:
        keys = set(written.keys())
        if keys != set(tensors) or any(written.get_slice(k).get_shape() != list(tensors[k].shape) for k in keys):
            raise BundleError(f"{name}: the converted {target.name} does not hold the same tensors")
    return aliases


class Fetcher:
    """Fetches artifacts into a bundle folder ``root`` from ``hub`` (``huggingface_hub`` or a stand-in) and URLs
    (rewritten by ``mirrors``: prefix -> prefix)."""

    def __init__(self, root: Path, hub: Any, mirrors: Mapping[str, str], say: Callable[[str], None]) -> None:
        self.root, self.hub, self.mirrors, self.say = root, hub, mirrors, say
        self.staging = root / STAGING

    def clean(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def fetch(self, artifact: Artifact) -> Placed:
        """``artifact`` from its first source that gives it as pinned; ``BundleError`` naming the bundle file and
        each source's reason when none does."""
        failures = []
        for source in artifact.sources:
            scratch = self.staging / artifact.name.replace("/", "_")
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            try:
                notes = (self._folder if artifact.folder else self._file)(artifact, source, scratch)
            except Exception as error:  # any failure of a source means: try the next one
                failures.append(f"{source}: {_reason(error)}")
                continue
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            self.say(f"{artifact.target}: {source} ({artifact.licence.id})")
            return Placed(artifact, str(source), notes)
        raise BundleError(f"{artifact.target} ({artifact.name}): no source gave the expected file: "
                          + "; ".join(failures))

    def _download(self, source: Source, filename: str, scratch: Path) -> Path:
        """One file of ``source`` (``filename`` in its repository, or its URL) into ``scratch``."""
        if source.kind == "url":
            url = source.location
            for prefix, replacement in self.mirrors.items():
                if url.startswith(prefix):
                    url = replacement + url[len(prefix):]
            target = scratch / Path(source.location).name
            download_url(url, target)
            return target
        return Path(self.hub.hf_hub_download(repo_id=source.location, filename=filename, repo_type=source.kind,
                                             revision=source.revision, local_dir=str(scratch)))

    def _place(self, staged: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(staged, target)

    def _file(self, artifact: Artifact, source: Source, scratch: Path) -> dict[str, dict[str, Any]]:
        staged = self._download(source, source.path, scratch)
        problem = file_problem(staged, artifact.size, artifact.sha256, artifact.form)
        if problem:
            raise BundleError(problem)
        self._place(staged, self.root / artifact.target)
        return {}

    def _folder(self, artifact: Artifact, source: Source, scratch: Path) -> dict[str, dict[str, Any]]:
        """A repository's ``source.files`` (with ``model.safetensors``, converted if need be) as the folder."""
        folder = scratch / "snapshot"
        self.hub.snapshot_download(repo_id=source.location, repo_type=source.kind, revision=source.revision,
                                   local_dir=str(folder), allow_patterns=list(source.files))
        if not (folder / "config.json").is_file():
            raise BundleError("no config.json")
        notes = {}
        if not (folder / WEIGHTS).is_file():
            try:
                pickled = self._download(source, PICKLED_WEIGHTS, folder)
            except Exception as error:
                raise BundleError(f"neither {WEIGHTS} nor {PICKLED_WEIGHTS} ({_reason(error)})") from error
            problem = file_problem(pickled, sha256=artifact.pins.get(PICKLED_WEIGHTS), form="zip")
            if problem:
                raise BundleError(f"{PICKLED_WEIGHTS}: {problem}")
            digest = _sha256(pickled)
            aliases = pickle_to_safetensors(pickled, folder / WEIGHTS, f"{source}/{PICKLED_WEIGHTS}")
            pickled.unlink()
            notes[f"{artifact.target}/{WEIGHTS}"] = {
                "converted_from": f"{source}/{PICKLED_WEIGHTS}", "published_sha256": digest,
                **({"aliases": aliases} if aliases else {})}
        for name, pinned in artifact.pins.items():
            if (folder / name).is_file() and (problem := file_problem(folder / name, sha256=pinned)):
                raise BundleError(f"{name}: {problem}")
        problem = file_problem(folder / WEIGHTS, form="safetensors")
        if problem:
            raise BundleError(f"{WEIGHTS}: {problem}")
        shutil.rmtree(folder / ".cache", ignore_errors=True)
        self._place(folder, self.root / artifact.target)
        return notes


def link_mulan_towers(root: Path, artifacts: Mapping[str, Artifact]) -> dict[str, dict[str, Any]]:
    """Point MuQ-MuLan's config at its towers' bundle folders (it names them by Hub repository); ``BundleError``
    if it names a tower the table does not hold. Returns the config's manifest note (the names it published)."""
    if "muq-mulan" not in artifacts:
        return {}
    path = root / STYLE_DIR / MULAN_DIR / "config.json"
    name = path.relative_to(root).as_posix()
    try:
        config = json.loads(path.read_text())
        published = {part: config[part]["name"] for part in MULAN_TOWERS}
    except (ValueError, KeyError, TypeError) as error:
        raise BundleError(f"{name}: not MuQ-MuLan's config ({_reason(error)})") from error
    for part, (names, tower) in MULAN_TOWERS.items():
        if published[part] not in names:
            raise BundleError(f"{name}: its {part} is {published[part]!r}; the pinned table holds {names[0]}")
        config[part]["name"] = Path(artifacts[tower].target).name
    path.write_text(json.dumps(config, indent=1))
    return {name: {"published_names": published}}


def _reason(error: BaseException) -> str:
    """A one-line reason: the message, with the exception's kind where the message alone would be unclear."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, BundleError):
        return text
    if isinstance(error, FileNotFoundError) or type(error).__name__ in (
            "EntryNotFoundError", "RepositoryNotFoundError", "RevisionNotFoundError", "RemoteEntryNotFoundError"):
        return f"not found ({text})" if text else "not found"
    import urllib.error

    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, FileNotFoundError):
        return "not found"  # a file:// mirror without the file
    return f"{type(error).__name__}: {text}"
