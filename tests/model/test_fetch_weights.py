"""fetch-weights against stand-ins of the places the weights are published, in their published layouts: a Hub (model
repositories, MuQ-MuLan as ``pytorch_model.bin``, and the Space with its own ``diffrhythm/...`` and ``src/...`` paths)
and upstream's GitHub repository (raw files, and Git LFS files through the media URL; raw, those are pointers).

The stand-ins serve the TINY RANDOM bundle's files under the published names; the table fetched is the real one
(``ARTIFACTS``: the same sources and paths) with each pinned sha256 and size replaced by the stand-in file's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from inference_container.diffrhythm.bundle.download import pickle_to_safetensors
from inference_container.diffrhythm.bundle.fetch import LicenceError, fetch_weights
from inference_container.diffrhythm.bundle.layout import CHINESE_MODEL_FILES, MULAN_DIR, STEMS_FILE, WHISPER_DIR
from inference_container.diffrhythm.bundle.reader import Bundle, BundleError
from inference_container.diffrhythm.bundle.sources import ARTIFACTS, UPSTREAM_COMMIT, Artifact
from shared.licences import CC_BY_NC
from testing.tiny_g2p import save_tiny_chinese_model

GITHUB_RAW = "https://raw.githubusercontent.com/"
GITHUB_MEDIA = "https://media.githubusercontent.com/media/"
DEMUCS = "https://dl.fbaipublicfiles.com/"
REPO = f"ASLP-lab/DiffRhythm/{UPSTREAM_COMMIT}"
NOT_TAKEN = "tf_model.h5"  # in the text tower's repository, as published; the bundle takes only what it needs


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lfs_pointer(path: Path) -> str:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{_sha(path)}\nsize {path.stat().st_size}\n"


def _put(root: Path, name: str, source: Path | str | bytes) -> Path:
    target = root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, Path):
        shutil.copyfile(source, target)
    else:
        target.write_bytes(source.encode() if isinstance(source, str) else source)
    return target


def publish(tiny: Path, root: Path) -> None:
    """Lay the tiny bundle's files out under ``root/hub`` (``<repo type>/<repo id>/<file>``) and ``root/github``
    (``raw/`` and ``media/``, as GitHub serves them), and the stems file under ``root/github/demucs``."""
    hub, github = root / "hub", root / "github"
    for variant, repo in (("95s", "ASLP-lab/DiffRhythm-1_2"), ("full", "ASLP-lab/DiffRhythm-1_2-full")):
        _put(hub, f"model/{repo}/cfm_model.pt", tiny / f"dit/{variant}/cfm_model.pt")
        _put(hub, f"model/{repo}/config.json", tiny / "dit/config.json")
    _put(hub, "model/ASLP-lab/DiffRhythm-vae/vae_model.pt", tiny / "vae/vae_model.pt")
    # MuQ-MuLan as the Hub has it: config.json naming the towers by repository, weights as pytorch_model.bin
    style = tiny / "style"
    config = json.loads((style / MULAN_DIR / "config.json").read_text())
    config["audio_model"]["name"], config["text_model"]["name"] = "OpenMuQ/MuQ-large-msd-iter", "xlm-roberta-base"
    mulan = hub / "model/OpenMuQ/MuQ-MuLan-large"
    _put(mulan, "config.json", json.dumps(config))
    _put(mulan, "README.md", "---\nlicense: cc-by-nc-4.0\n---\n")
    from safetensors.torch import load_file

    torch.save(load_file(str(style / MULAN_DIR / "model.safetensors")), mulan / "pytorch_model.bin")
    shutil.copytree(style / "tiny-muq", hub / "model/OpenMuQ/MuQ-large-msd-iter")
    shutil.copytree(style / "tiny-xlm-roberta", hub / "model/FacebookAI/xlm-roberta-base")
    shutil.copytree(tiny / WHISPER_DIR, hub / "model/openai/whisper-large-v3-turbo")
    _put(hub, f"model/FacebookAI/xlm-roberta-base/{NOT_TAKEN}", b"TensorFlow weights")
    # the Space: the same data files under its own paths
    space = hub / "space/ASLP-lab/DiffRhythm"
    chinese = save_tiny_chinese_model(root / "tiny-g2p")
    for path in chinese.iterdir():
        _put(space, f"diffrhythm/g2p/sources/g2p_chinese_model/{path.name}", path)
    _put(space, "diffrhythm/config/config.json", tiny / "dit/config.json")
    _put(space, "diffrhythm/g2p/g2p/vocab.json", tiny / "g2p/vocab.json")
    _put(space, "diffrhythm/g2p/sources/chinese_lexicon.txt", tiny / "g2p/chinese_lexicon.txt")
    _put(space, "src/negative_prompt.npy", tiny / "style/negative_prompt.npy")
    # upstream's GitHub repository: everything but vocab.json (so the Space is the fallback that gives it);
    # Git LFS files are pointers raw, and the files through the media URL
    raw, media = github / "raw" / REPO, github / "media" / REPO
    _put(raw, "config/diffrhythm-1b.json", tiny / "dit/config.json")
    _put(raw, "infer/example/vocal.npy", tiny / "style/negative_prompt.npy")
    for name in CHINESE_MODEL_FILES:
        published = space / f"diffrhythm/g2p/sources/g2p_chinese_model/{name}"
        lfs = name.endswith(".onnx")
        _put(raw, f"g2p/sources/g2p_chinese_model/{name}", _lfs_pointer(published) if lfs else published)
        if lfs:
            _put(media, f"g2p/sources/g2p_chinese_model/{name}", published)
    _put(raw, "g2p/sources/chinese_lexicon.txt", _lfs_pointer(tiny / "g2p/chinese_lexicon.txt"))
    _put(media, "g2p/sources/chinese_lexicon.txt", tiny / "g2p/chinese_lexicon.txt")
    _put(github / "demucs", "demucs/hybrid_transformer/955717e8-8726e21a.th", tiny / STEMS_FILE)


class StandInHub:
    """``huggingface_hub``'s two download functions over ``root/<repo type>/<repo id>/``, recording each call."""

    def __init__(self, root: Path) -> None:
        self.root, self.calls = root, []

    def hf_hub_download(self, repo_id: str, filename: str, repo_type: str = "model", revision: str | None = None,
                        local_dir: str | None = None) -> str:
        self.calls.append(f"{repo_type}:{repo_id}@{revision}/{filename}")
        source = self.root / repo_type / repo_id / filename
        if not source.is_file():
            raise FileNotFoundError(f"404: {repo_id} has no {filename}")
        assert local_dir is not None  # the bundle is never filled from the user's cache
        (Path(local_dir) / ".cache/huggingface").mkdir(parents=True, exist_ok=True)
        return str(_put(Path(local_dir), filename, source))

    def snapshot_download(self, repo_id: str, local_dir: str, allow_patterns: list[str] | None = None,
                          revision: str | None = None, repo_type: str = "model") -> str:
        self.calls.append(f"snapshot {repo_type}:{repo_id}@{revision}")
        repo = self.root / repo_type / repo_id
        if not repo.is_dir():
            raise FileNotFoundError(f"404: no repository {repo_id}")
        for path in repo.rglob("*"):
            name = path.relative_to(repo).as_posix()
            if path.is_file() and (allow_patterns is None or any(fnmatch.fnmatch(name, p) for p in allow_patterns)):
                _put(Path(local_dir), name, path)
        return local_dir


FOLDERS = {GITHUB_RAW: "github/raw/", GITHUB_MEDIA: "github/media/", DEMUCS: "github/demucs/"}


@dataclasses.dataclass
class StandIn:
    """A published copy (``root``; ``root/../published`` as first published), the hub over it, and the base URL
    (``file://`` or a local HTTP server) its GitHub stand-in is reached at."""

    root: Path
    hub: StandInHub
    base: str

    @property
    def mirrors(self) -> dict[str, str]:
        return {prefix: f"{self.base}/{folder}" for prefix, folder in FOLDERS.items()}

    def path(self, name: str) -> Path:
        return self.root / name

    def table(self, repinned: tuple[str, ...] = ()) -> tuple[Artifact, ...]:
        """``ARTIFACTS`` with each pin replaced by the hash (and size) of the file this stand-in first offers, as
        first published, or as it is now for the artifacts named in ``repinned``."""
        pinned = []
        for artifact in ARTIFACTS:
            base = self.root if artifact.name in repinned else self.root.parent / "published"
            changes: dict[str, Any] = {}
            if artifact.pins:
                repo = base / "hub" / artifact.sources[0].kind / artifact.sources[0].location
                changes["pins"] = {"pytorch_model.bin": _sha(repo / "pytorch_model.bin")}
            if artifact.sha256 is not None:
                changes["sha256"] = _sha(self._first(base, artifact))
            if artifact.size is not None:
                changes["size"] = self._first(base, artifact).stat().st_size
            pinned.append(dataclasses.replace(artifact, **changes))
        return tuple(pinned)

    def _first(self, base: Path, artifact: Artifact) -> Path:
        for source in artifact.sources:
            if source.kind == "url":
                prefix = next(p for p in FOLDERS if source.location.startswith(p))
                candidate = base / FOLDERS[prefix] / source.location[len(prefix):]
            else:
                candidate = base / "hub" / source.kind / source.location / source.path
            if candidate.is_file() and not candidate.read_bytes().startswith(b"version https://git-lfs"):
                return candidate
        raise AssertionError(f"the stand-in publishes no {artifact.name}")

    def fetch(self, variants: tuple[str, ...] = ("95s",), repinned: tuple[str, ...] = (), **options: Any) -> Bundle:
        options = {"accept_noncommercial": True, **options}
        return fetch_weights(self.root.parent / "bundle", variants, hub=self.hub, table=self.table(repinned),
                             mirrors=self.mirrors, **options)


@pytest.fixture(scope="module")
def published(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("published")
    publish(tiny_bundle, root)
    return root


@pytest.fixture
def stand_in(published: Path, tmp_path: Path) -> StandIn:
    """A copy of the published files a test may change, served through ``file://`` URLs."""
    shutil.copytree(published, tmp_path / "published")
    root = tmp_path / "now"
    shutil.copytree(published, root)
    return StandIn(root, StandInHub(root / "hub"), root.as_uri())


def _sources(bundle: Bundle) -> dict[str, str]:
    return {name: entry["source"] for name, entry in bundle.manifest["files"].items()}


@pytest.mark.slow  # fetches and load-checks a whole bundle (seconds)
def test_fetch_weights_takes_each_file_from_its_published_place_and_the_bundle_loads(stand_in):
    said: list[str] = []
    bundle = fetch_weights_and_check(stand_in, said)
    sources = _sources(bundle)
    # the model repositories on the Hub, at the pinned revision where the table pins one
    assert sources["dit/95s/cfm_model.pt"] == "model:ASLP-lab/DiffRhythm-1_2@185bdeb80541/cfm_model.pt"
    assert "model:ASLP-lab/DiffRhythm-1_2@185bdeb80541b9260d266c5f041859017441f307/cfm_model.pt" in stand_in.hub.calls
    assert sources["dit/config.json"] == "model:ASLP-lab/DiffRhythm-1_2@185bdeb80541/config.json"
    # upstream's GitHub at the pinned commit: raw files, and Git LFS files through the media URL
    assert sources["style/negative_prompt.npy"] == f"{GITHUB_RAW}{REPO}/infer/example/vocal.npy"
    assert sources["g2p/chinese_lexicon.txt"] == f"{GITHUB_MEDIA}{REPO}/g2p/sources/chinese_lexicon.txt"
    assert sources["g2p/g2p_chinese_model/poly_bert_model.onnx"].startswith(GITHUB_MEDIA)
    assert sources["g2p/g2p_chinese_model/polydict.json"].startswith(GITHUB_RAW)
    # the Space, at its own prefixed path, where GitHub does not have the file
    assert sources["g2p/vocab.json"] == "space:ASLP-lab/DiffRhythm/diffrhythm/g2p/g2p/vocab.json"
    # MuQ-MuLan published as pytorch_model.bin: converted, key for key, to the model.safetensors muq reads
    mulan = bundle.style / MULAN_DIR
    assert (mulan / "model.safetensors").is_file() and not (mulan / "pytorch_model.bin").exists()
    entry = bundle.manifest["files"]["style/muq-mulan/model.safetensors"]
    assert entry["converted_from"] == "model:OpenMuQ/MuQ-MuLan-large/pytorch_model.bin"
    assert entry["published_sha256"] == _sha(stand_in.path("hub/model/OpenMuQ/MuQ-MuLan-large/pytorch_model.bin"))
    config = json.loads((mulan / "config.json").read_text())
    assert (config["audio_model"]["name"], config["text_model"]["name"]) == ("MuQ-large-msd-iter", "xlm-roberta-base")
    assert not (bundle.style / "xlm-roberta-base" / NOT_TAKEN).exists()
    assert not any(".staging" in name or ".cache" in name for name in bundle.manifest["files"])
    # the G2P files and the licences, as the pipeline and the API read them
    assert bundle.chinese_model == bundle.root / "g2p/g2p_chinese_model"
    assert bundle.chinese_lexicon == bundle.root / "g2p/chinese_lexicon.txt"
    licences = bundle.licences
    assert licences["dit-95s"]["licence"] == "Apache-2.0" and licences["vae"]["licence"] == "stable-audio-community"
    assert licences["muq-mulan"] == CC_BY_NC.entry() and licences["stems"]["licence"] == "MIT"
    assert licences["whisper"]["licence"] == "MIT" and bundle.whisper == bundle.root / WHISPER_DIR
    assert bundle.non_commercial == ("muq-mulan", "muq-audio-tower")
    assert bundle.manifest["accepted_noncommercial"] is True
    assert bundle.manifest["files"]["style/muq-mulan/model.safetensors"]["licence"] == "CC-BY-NC-4.0"
    # the load check ran every part, and the worker's loader takes the bundle
    assert any(line.startswith("vae/vae_model.pt: VAE: decode_export and encode_export") for line in said)
    assert any("'你好世界' ->" in line for line in said) and any("text and audio embeddings" in line for line in said)
    assert any(line.startswith(f"{WHISPER_DIR}: lyric check's transcriber: TINY RANDOM") for line in said)
    assert any(line.startswith("g2p/g2p_chinese_model: polyphone model: ") for line in said)
    from inference_container.diffrhythm.pipeline import Pipeline

    pipeline = Pipeline.load(str(bundle.root), variants=["95s"])
    assert pipeline.style.text("流行").shape == (1, 512) and pipeline.tokenizer.encode("银行")
    assert pipeline.licences["muq-mulan"] == "CC-BY-NC-4.0" and pipeline.licences["dit-95s"] == "Apache-2.0"


def fetch_weights_and_check(stand_in: StandIn, said: list[str]) -> Bundle:
    bundle = stand_in.fetch(say=said.append)
    bundle.verify()
    return bundle


@pytest.mark.slow  # a real HTTP server on 127.0.0.1
def test_fetch_weights_over_http_falls_back_past_a_404_and_an_lfs_pointer(stand_in):
    # the media URL has lost the ONNX file (404); its raw URL is a pointer: the Space gives it
    (stand_in.path(f"github/media/{REPO}/g2p/sources/g2p_chinese_model/poly_bert_model.onnx")).unlink()
    handler = partial(_QuietHandler, directory=str(stand_in.root))
    with _serving(handler) as stand_in.base:
        bundle = stand_in.fetch(check=False)
    assert _sources(bundle)["g2p/g2p_chinese_model/poly_bert_model.onnx"] == (
        "space:ASLP-lab/DiffRhythm/diffrhythm/g2p/sources/g2p_chinese_model/poly_bert_model.onnx")
    assert _sources(bundle)["g2p/chinese_lexicon.txt"].startswith(GITHUB_MEDIA)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _serving(handler: Any) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_file_with_another_hash_fails_naming_the_file_and_every_source_tried(stand_in):
    published = stand_in.path("hub/model/ASLP-lab/DiffRhythm-1_2/cfm_model.pt")
    data = bytearray(published.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one weight differs: same size, another sha256
    published.write_bytes(bytes(data))
    with pytest.raises(BundleError) as raised:
        stand_in.fetch(check=False)
    message = str(raised.value)
    assert message.startswith("dit/95s/cfm_model.pt (dit-95s): no source gave the expected file")
    assert "model:ASLP-lab/DiffRhythm-1_2@185bdeb80541/cfm_model.pt: sha256 " in message and "expected" in message
    bundle_dir = stand_in.root.parent / "bundle"
    assert not (bundle_dir / "manifest.json").exists() and not (bundle_dir / "dit/95s/cfm_model.pt").exists()
    assert not (bundle_dir / ".staging").exists()


def test_a_missing_file_fails_naming_it(stand_in):
    stand_in.path("hub/model/ASLP-lab/DiffRhythm-1_2-full/cfm_model.pt").unlink()
    with pytest.raises(BundleError, match=r"dit/full/cfm_model.pt \(dit-full\): no source gave the expected file: "
                                          r"model:ASLP-lab/DiffRhythm-1_2-full/cfm_model.pt: not found"):
        stand_in.fetch(("95s", "full"), check=False)


def test_a_pointer_instead_of_an_lfs_file_fails_naming_it(stand_in):
    lexicon = stand_in.path(f"github/media/{REPO}/g2p/sources/chinese_lexicon.txt")
    lexicon.write_text(_lfs_pointer(lexicon))  # an LFS object GitHub no longer serves
    stand_in.path("hub/space/ASLP-lab/DiffRhythm/diffrhythm/g2p/sources/chinese_lexicon.txt").unlink()
    with pytest.raises(BundleError) as raised:
        stand_in.fetch(check=False)
    message = str(raised.value)
    assert message.startswith("g2p/chinese_lexicon.txt (chinese-lexicon): ")
    assert f"{GITHUB_MEDIA}{REPO}/g2p/sources/chinese_lexicon.txt: a Git LFS pointer, not the file" in message
    assert "space:ASLP-lab/DiffRhythm/diffrhythm/g2p/sources/chinese_lexicon.txt: not found" in message


def test_mulan_weights_in_an_unexpected_format_fail_naming_them(stand_in):
    torch.save([torch.zeros(2)], stand_in.path("hub/model/OpenMuQ/MuQ-MuLan-large/pytorch_model.bin"))
    with pytest.raises(BundleError, match=r"style/muq-mulan \(muq-mulan\): .*pytorch_model.bin: not a flat state "
                                          r"dict of named tensors \(a list\)"):
        stand_in.fetch(check=False, repinned=("muq-mulan",))


@pytest.mark.slow  # load-checks a whole bundle with broken files (seconds)
def test_files_the_worker_cannot_load_fail_the_check_naming_each(stand_in):
    """Published as pinned, but not what the worker loads: a VAE that is not TorchScript, a negative style of
    another shape, a polyphone model onnxruntime cannot read. The check names each; the folder is left without a
    manifest."""
    torch.save({"decoder.weight": torch.zeros(2)}, stand_in.path("hub/model/ASLP-lab/DiffRhythm-vae/vae_model.pt"))
    np.save(stand_in.path(f"github/raw/{REPO}/infer/example/vocal.npy"), np.zeros((1, 256), np.float32))
    stand_in.path(f"github/media/{REPO}/g2p/sources/g2p_chinese_model/poly_bert_model.onnx").write_bytes(
        b"\x08\x07 truncated")
    with pytest.raises(BundleError) as raised:
        stand_in.fetch(repinned=("negative-style",))
    message = str(raised.value)
    assert "does not load as the worker loads it" in message
    assert "style/negative_prompt.npy: float32 of shape [1, 256], expected float [1, 512]" in message
    assert "vae/vae_model.pt: not a TorchScript archive (" in message
    assert "g2p/g2p_chinese_model: " in message
    assert "style/muq-mulan" not in message and "dit/95s" not in message  # the other parts loaded
    bundle_dir = stand_in.root.parent / "bundle"
    assert not (bundle_dir / "manifest.json").exists() and (bundle_dir / "manifest.rejected.json").exists()


def test_non_commercial_weights_need_the_explicit_flag(stand_in, tmp_path, capsys):
    with pytest.raises(LicenceError) as raised:
        stand_in.fetch(accept_noncommercial=False)
    message = str(raised.value)
    assert "style/muq-mulan (CC-BY-NC-4.0)" in message and "--accept-noncommercial" in message
    assert "ACCEPT_NONCOMMERCIAL_WEIGHTS=1" in message
    assert stand_in.hub.calls == []  # refused before anything was downloaded
    from inference_container.cli import main

    assert main(["fetch-weights", str(tmp_path / "weights"), "--no-stems"]) == 1
    assert "--accept-noncommercial" in capsys.readouterr().err
    dockerfile = (Path(__file__).resolve().parents[2] / "inference_container/Dockerfile").read_text()
    assert 'ARG ACCEPT_NONCOMMERCIAL_WEIGHTS=""' in dockerfile
    assert "${ACCEPT_NONCOMMERCIAL_WEIGHTS:+--accept-noncommercial}" in dockerfile.split("fetch-weights", 1)[1]


def test_the_table_pins_upstreams_files_and_their_licences():
    table = {artifact.name: artifact for artifact in ARTIFACTS}
    # the facts published for upstream's repository at the pinned commit
    assert (table["vocab"].size, table["vocab"].sha256[:12]) == (5802, "0f5c44e05f79")
    assert (table["dit-config"].size, table["dit-config"].sha256[:12]) == (247, "e04d3c78b48a")
    assert (table["negative-style"].size, table["negative-style"].sha256[:12]) == (2176, "6cb7d74eb7a8")
    assert table["chinese-g2p/polydict_r.json"].sha256.startswith("386e90aecf0f")
    for artifact in ARTIFACTS:
        for source in artifact.sources:
            if source.kind == "url" and "github" in source.location:
                assert f"/ASLP-lab/DiffRhythm/{UPSTREAM_COMMIT}/" in source.location
                lfs = artifact.name in ("chinese-lexicon", "chinese-g2p/poly_bert_model.onnx")  # Git LFS files
                assert source.location.startswith(GITHUB_MEDIA) == lfs, source
            if source.kind == "space":
                assert source.path.startswith(("diffrhythm/", "src/")), source  # the Space's own layout
    licences = {name: artifact.licence.id for name, artifact in table.items()}
    assert licences["dit-95s"] == licences["dit-full"] == licences["vocab"] == "Apache-2.0"
    assert licences["vae"] == "stable-audio-community" and licences["stems"] == "MIT"
    assert [name for name, artifact in table.items() if artifact.licence.non_commercial] == [
        "muq-mulan", "muq-audio-tower"]


def test_a_pickled_state_dict_converts_key_for_key_with_tied_weights_once(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_model

    class Tied(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(5, 3)
            self.head = torch.nn.Linear(3, 5, bias=False)
            self.head.weight = self.embed.weight
            self.register_buffer("rows", torch.arange(10.0).reshape(2, 5))

    model = Tied()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    aliases = pickle_to_safetensors(tmp_path / "pytorch_model.bin", tmp_path / "model.safetensors", "test.bin")
    assert aliases == ["head.weight"]  # the tied weight once, as save_model writes it
    loaded = Tied()
    load_model(loaded, str(tmp_path / "model.safetensors"), strict=True)  # as muq's from_pretrained loads it
    assert torch.equal(loaded.head.weight, model.embed.weight) and torch.equal(loaded.rows, model.rows)
    # a view of another tensor is written apart, with its values
    rows = torch.arange(10.0).reshape(2, 5)
    torch.save({"rows": rows, "first": rows[0]}, tmp_path / "views.bin")
    assert pickle_to_safetensors(tmp_path / "views.bin", tmp_path / "views.safetensors", "views.bin") == []
    with safe_open(str(tmp_path / "views.safetensors"), "pt") as written:
        assert torch.equal(written.get_tensor("first"), rows[0]) and torch.equal(written.get_tensor("rows"), rows)
