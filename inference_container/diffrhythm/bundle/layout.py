"""The weights bundle's layout: every file the pipeline needs, in one directory, with a manifest that verifies it.

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
    lyrics/whisper/             optional: openai/whisper-large-v3-turbo as published (config, model.safetensors,
                                tokenizer, preprocessor), which transcribes the separated vocals for the lyric check
                                (``inference_container.transcribe``); without it ``Bundle.whisper`` is None

and, after ``convert_weights`` (the image's build step after fetching):

    converted.json              every converted file: its precision, size, sha256, and its source's path and sha256
    dit/<variant>/cfm_model.<precision>.safetensors
                                the DiT's state dict (the published keys) cast to bf16, fp16 or fp32, with the same
                                facts in the file's safetensors metadata

This module only names the paths (relative to the bundle's root); it imports nothing of the project. ``reader.Bundle``
reads a bundle, ``sources.ARTIFACTS`` says where each file is published, ``fetch.fetch_weights`` writes one.
"""

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
WHISPER_DIR = "lyrics/whisper"
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
