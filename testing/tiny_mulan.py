"""TINY RANDOM TEST MODEL for the style encoder: MuQ-MuLan's file formats and output shape, none of its knowledge.

``save_tiny_mulan`` writes three sibling folders, like the three Hugging Face repos the real MuQ-MuLan needs::

    directory/muq-mulan/         config.json + model.safetensors (``MuQMuLan.save_pretrained``)
    directory/tiny-muq/          the audio tower (``MuQ.save_pretrained``)
    directory/tiny-xlm-roberta/  the text tower and its tokenizer (``save_pretrained``)

The sub-model names in ``muq-mulan/config.json`` are relative, so the bundle can be moved; a loader joins them to
the bundle's path and passes the edited dict as ``config=``. muq picks the audio loader when a name contains "muq"
and the text loader when it contains "xlm-roberta", hence the folder names. Embeddings are ``[B, 512]`` like the
real model's, and meaningless.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from inference_container.diffrhythm.bundle.layout import MULAN_DIR

TINY_MULAN_LABEL = "TINY RANDOM TEST MODEL (not MuQ-MuLan)"
AUDIO_DIR = "tiny-muq"  # must contain "muq"
TEXT_DIR = "tiny-xlm-roberta"  # must contain "xlm-roberta"
_WIDTH = 32  # hidden width of every tiny tower and head
_MEL_STAT = {"melspec_2048_cnt": 14282760192, "melspec_2048_mean": 6.768444971712967,
             "melspec_2048_std": 18.417922652295623}  # MuQ's published normalisation statistics
_WORDS = ("pop", "rock", "jazz", "folk", "metal", "soul", "funk", "disco", "house", "techno", "ambient", "classical",
          "electronic", "hip", "hop", "rap", "country", "piano", "guitar", "drums", "bass", "synth", "strings",
          "vocals", "female", "male", "upbeat", "happy", "sad", "slow", "fast", "dance", "calm", "dark", "ballad")
_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,.;:!?'\"-&()/+#"


def _vocab() -> list[tuple[str, float]]:
    """Unigram (piece, log-probability) list in XLM-R's order: ``<s> <pad> </s> <unk>``, pieces, ``<mask>``."""
    pieces = [(f"\u2581{w}", -5.0) for w in _WORDS] + [("\u2581", -6.0)] + [(c, -8.0) for c in _CHARS]
    return [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), *pieces, ("<mask>", 0.0)]


def _save_text_tower(directory: Path) -> None:
    """Save a 1-layer XLM-RoBERTa and a hand-written Unigram tokenizer (``tokenizer.json``)."""
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizer

    vocab = _vocab()
    tokenizer = XLMRobertaTokenizer(vocab=vocab)  # transformers 5.x; 4.x needs XLMRobertaTokenizerFast instead
    config = XLMRobertaConfig(vocab_size=len(vocab), hidden_size=_WIDTH, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=2 * _WIDTH, type_vocab_size=1, pad_token_id=tokenizer.pad_token_id,
                              bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    XLMRobertaModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def _save_audio_tower(directory: Path, seed: int) -> None:
    """Save a 2-layer MuQ (128 mel bands, rotary conformer like the published one)."""
    from muq import MuQ, MuQConfig
    from transformers import Wav2Vec2ConformerConfig

    conformer = Wav2Vec2ConformerConfig(hidden_size=_WIDTH, num_attention_heads=2, intermediate_size=2 * _WIDTH,
                                        position_embeddings_type="rotary", hidden_act="swish")
    # JSON round trip: the config dict has int keys (id2label), which MuQ's EasyDict cannot take.
    w2v2_config = json.loads(json.dumps(conformer.to_dict()))
    model = MuQ(MuQConfig(encoder_dim=_WIDTH, encoder_depth=2, conv_dim=4, codebook_size=16, stat=dict(_MEL_STAT),
                          w2v2_config=w2v2_config))
    # MuQ's random quantizer calls torch.manual_seed(142), so redraw the weight matrices from our own seed.
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim >= 2:
                bound = parameter[0].numel() ** -0.5
                parameter.copy_(torch.rand(parameter.shape, generator=generator) * 2 * bound - bound)
    model.save_pretrained(directory)


def _mulan_config(audio_name: str, text_name: str) -> dict[str, object]:
    """MuQ-MuLan config as a plain dict (nested dataclasses fail in muq): 512-d latent, 1-layer heads."""
    from muq import muq_mulan as mm

    head = {"dim": _WIDTH, "tf_depth": 1, "heads": 2, "dim_head": 16, "ff_mult": 2}
    return asdict(mm.MuQMuLanConfig(
        mulan=mm.MuLanConfig(dim_latent=512),
        audio_model=mm.ModalModelConfig(name=audio_name, model_dim=_WIDTH),
        text_model=mm.ModalModelConfig(name=text_name, model_dim=_WIDTH),
        audio_transformer=mm.AudioTransformerConfig(**head),
        text_transformer=mm.TextTransformerConfig(**head),
    ))


def save_tiny_mulan(directory: str | Path, seed: int = 0) -> Path:
    """Write a tiny random MuQ-MuLan bundle into `directory` and return `directory`: its folders are ``muq-mulan``,
    ``tiny-muq`` and ``tiny-xlm-roberta`` (``tests/model`` loads it with ``StyleEncoder``)."""
    # muq and transformers are imported here, not at module level, so that importing this module does not fix
    # huggingface_hub's HF_HUB_OFFLINE setting before the caller has set it.
    from muq import MuQMuLan

    root = Path(directory)
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG as it was
        torch.manual_seed(seed)
        _save_text_tower(root / TEXT_DIR)
        _save_audio_tower(root / AUDIO_DIR, seed)
        torch.manual_seed(seed)
        model = MuQMuLan(_mulan_config(str(root / AUDIO_DIR), str(root / TEXT_DIR)))
    model.save_pretrained(root / MULAN_DIR, config=_mulan_config(AUDIO_DIR, TEXT_DIR))
    return root
