"""TINY RANDOM TEST MODEL for the lyric check's transcriber: Whisper's published file layout, none of its knowledge.

``save_tiny_whisper(directory)`` writes what ``openai/whisper-large-v3-turbo`` publishes, at toy size::

    config.json                 WhisperConfig (d_model 64, 2 + 2 layers, 4 heads, 80 mel bins) + a TINY RANDOM marker
    model.safetensors           random weights (``WhisperForConditionalGeneration.save_pretrained``)
    generation_config.json      the token ids of the tokenizer below (start, languages, tasks, timestamps), as published
    vocab.json, merges.txt,     a byte-level BPE: GPT-2's 256 byte tokens (in GPT-2's order, so " " is 220 as in
    tokenizer.json, ...         Whisper), no merges, then Whisper's special tokens and the 1501 timestamps <|0.00|> ...
                                <|30.00|>
    preprocessor_config.json    WhisperFeatureExtractor (80 mel bins, 16 kHz, 30 s windows)
    README.md                   says TINY RANDOM

Token layout, Whisper's order: text (bytes) < <|endoftext|> < <|startoftranscript|> < one token per language of
``transformers``' ``LANGUAGES`` < <|translate|> < <|transcribe|> < <|startoflm|> < <|startofprev|> < <|nospeech|> <
<|notimestamps|> < timestamps. What it transcribes is random bytes; deterministic from ``seed``.
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_WHISPER_LABEL = "TINY RANDOM TEST MODEL (not Whisper)"
TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|> in 0.02 s steps
_TASKS = ("<|translate|>", "<|transcribe|>")
_AFTER_TASKS = ("<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>")


def _byte_tokens() -> list[str]:
    """GPT-2's byte alphabet in GPT-2's vocabulary order: the printable bytes as themselves, then the others as the
    characters from U+0100 on (a space is "\u0120", id 220)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1),
                 *range(ord("\u00ae"), ord("\u00ff") + 1)]
    others = [byte for byte in range(256) if byte not in printable]
    return [chr(byte) for byte in printable] + [chr(256 + index) for index in range(len(others))]


def _vocab() -> tuple[dict[str, int], list[str]]:
    """The vocabulary (token -> id) and the special tokens in id order (``<|notimestamps|>`` last)."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    byte_tokens = _byte_tokens()
    special = ["<|endoftext|>", "<|startoftranscript|>", *(f"<|{code}|>" for code in LANGUAGES), *_TASKS,
               *_AFTER_TASKS]
    timestamps = [f"<|{index * 0.02:.2f}|>" for index in range(TIMESTAMPS)]
    return {token: index for index, token in enumerate(byte_tokens + special + timestamps)}, special


def _generation_config(vocab: dict[str, int], max_length: int) -> object:
    """Whisper's published generation settings, with this vocabulary's ids."""
    from transformers import GenerationConfig
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    eot = vocab["<|endoftext|>"]
    return GenerationConfig(
        alignment_heads=[[1, 0], [1, 2]], begin_suppress_tokens=[vocab["\u0120"], eot], bos_token_id=eot,
        decoder_start_token_id=vocab["<|startoftranscript|>"], eos_token_id=eot, pad_token_id=eot,
        forced_decoder_ids=[[1, None], [2, vocab["<|transcribe|>"]]], is_multilingual=True,
        lang_to_id={f"<|{code}|>": vocab[f"<|{code}|>"] for code in LANGUAGES}, max_initial_timestamp_index=50,
        max_length=max_length, no_timestamps_token_id=vocab["<|notimestamps|>"],
        prev_sot_token_id=vocab["<|startofprev|>"], return_timestamps=False, suppress_tokens=[],
        task_to_id={"translate": vocab["<|translate|>"], "transcribe": vocab["<|transcribe|>"]})


def _save_tokenizer(directory: Path, vocab: dict[str, int], special: list[str]) -> None:
    """A byte-level BPE without merges; the special tokens special, the timestamps added but not special."""
    from tokenizers import AddedToken
    from transformers import WhisperTokenizer

    tokenizer = WhisperTokenizer(vocab=vocab, merges=[], extra_special_tokens=special)
    timestamps = [token for token in vocab if vocab[token] > vocab["<|notimestamps|>"]]
    tokenizer.add_tokens([AddedToken(token, lstrip=False, rstrip=False, normalized=False) for token in timestamps])
    tokenizer.save_pretrained(directory)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def save_tiny_whisper(directory: str | Path, seed: int = 0, max_length: int = 448) -> Path:
    """Write a TINY RANDOM Whisper in the published layout into ``directory`` (created); return it."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, special = _vocab()
    eot = vocab["<|endoftext|>"]
    config = WhisperConfig(
        vocab_size=len(vocab), num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_source_positions=1500, max_target_positions=max_length, pad_token_id=eot, bos_token_id=eot,
        eos_token_id=eot, decoder_start_token_id=vocab["<|startoftranscript|>"],
        begin_suppress_tokens=[vocab["\u0120"], eot], suppress_tokens=[])
    config.tiny_random = TINY_WHISPER_LABEL  # the marker Transcriber.is_tiny reads
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = _generation_config(vocab, max_length)  # type: ignore[assignment]
    model.save_pretrained(directory)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(directory)
    _save_tokenizer(directory, vocab, special)
    (directory / "README.md").write_text(
        f"# {TINY_WHISPER_LABEL}\n\nRandom weights in Whisper's published layout, written by "
        f"`testing/tiny_whisper.py` (seed {seed}) for tests. It transcribes nonsense.\n", encoding="utf-8")
    return directory
