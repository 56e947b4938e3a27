"""Where each file of a real bundle is published: the artifact table (data, and the dataclasses that hold it).

``ARTIFACTS`` is the one table of what a real bundle holds: each artifact's bundle path, its sources in order (the
model repos on the Hugging Face Hub, upstream's GitHub repository at ``UPSTREAM_COMMIT``, the Hub Space at its own
paths), its size and sha256 where they are published, and its licence. ``fetch.fetch_weights`` takes each artifact
from its first source that gives the pinned file (``download.py``), writes the manifest, then loads the bundle as
the worker does (``check.py``); the pipeline then reads only this directory (``HF_HUB_OFFLINE=1`` works).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from inference_container.diffrhythm.bundle.layout import (
    CHINESE_MODEL_DIR,
    DIT_CONFIG,
    LEXICON,
    MULAN_DIR,
    NEGATIVE_STYLE,
    STEMS_FILE,
    STYLE_DIR,
    VAE_FILE,
    VOCAB,
    WHISPER_DIR,
    dit_file,
)
from shared.licences import Licence, licence_of
from shared.timeline import FULL, SHORT


@dataclass(frozen=True)
class RemoteFile:
    """A file fetched from a URL, accepted only with this sha256."""

    url: str
    sha256: str


#: Demucs v4's htdemucs (MIT): the file ``demucs.pretrained`` fetches for "htdemucs" (signature 955717e8); its name's
#: suffix is the start of this sha256, which others who pin it publish in full
HTDEMUCS = RemoteFile("https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/955717e8-8726e21a.th",
                      "8726e21a993978c7ba086d3872e7608d7d5bfca646ca4aca459ffda844faa8b4")


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
    optional: bool = False  # the stems separator and the lyric check's Whisper: a bundle may go without

    @property
    def licence(self) -> Licence:
        """The terms it is published under (``shared.licences``, the one table of them)."""
        return licence_of(self.name)


#: upstream's GitHub repository, at the commit whose files the table pins
UPSTREAM = "ASLP-lab/DiffRhythm"
UPSTREAM_COMMIT = "28ad63c0f096fe2ee258bcabbcf081d5d9366afd"
SPACE = "ASLP-lab/DiffRhythm"  # upstream's Hub Space: the same files under its own paths (diffrhythm/..., src/...)
DIT_95S_REVISION = "185bdeb80541b9260d266c5f041859017441f307"  # ASLP-lab/DiffRhythm-1_2's "v1_2" commit
#: openai/whisper-large-v3-turbo (MIT) at the commit others pin it to; its files are taken as that commit gives them
WHISPER_REVISION = "41f01f3fe87f28c78e2fbf8b568835947dd65ed9"
WHISPER_FILES = ("config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json",
                 "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "added_tokens.json",
                 "special_tokens_map.json", "normalizer.json")


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
    Artifact("whisper", WHISPER_DIR,
             (Source("model", "openai/whisper-large-v3-turbo", revision=WHISPER_REVISION, files=WHISPER_FILES),),
             folder=True, optional=True),
)
#: the towers MuQ-MuLan's published config names (part -> names it may use), and the artifacts that hold them
MULAN_TOWERS = {"audio_model": (("OpenMuQ/MuQ-large-msd-iter",), "muq-audio-tower"),
                "text_model": (("xlm-roberta-base", "FacebookAI/xlm-roberta-base"), "muq-text-tower")}


def artifacts_for(variants: Sequence[str], stems: bool = True,
                  table: Sequence[Artifact] = ARTIFACTS) -> tuple[Artifact, ...]:
    """The artifacts of a bundle with these DiT ``variants`` (and the optional ones, the stems separator and the
    lyric check's Whisper, which transcribes the separated vocals, unless ``stems`` is False).

    Example
    -------
    >>> [a.name for a in artifacts_for(["full"], stems=False)][:3]
    ['dit-full', 'dit-config', 'vae']
    """
    return tuple(a for a in table if (a.variant is None or a.variant in variants) and (stems or not a.optional))
