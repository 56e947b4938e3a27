"""A fetched bundle loaded as the worker loads it, on the CPU, with the loaders ``Pipeline.load`` uses, one part at a
time (so the peak memory is the largest part's), each used once on a tiny input:

- the DiT config parses for every variant, and every DiT loads strictly (``checkpoint.load_variant``, the published
  ``.pt``, in fp16 as published);
- the VAE is TorchScript with ``decode_export`` and ``encode_export``: a 32-frame latent decodes to stereo audio of
  32 hops and encodes back to 32 frames;
- MuQ-MuLan's text and audio towers give one [1, 512] embedding each (a prompt; 10 s of noise);
- the negative style is a finite float array of shape [1, 512];
- upstream's polyphone model, where the bundle has it, loads (onnxruntime) and reads a line of polyphones;
- the tokenizer gives tokens for an English and a Mandarin line, none beyond the DiT's text embedding;
- the stems separator, where the bundle has one, loads strictly;
- the lyric check's Whisper, where the bundle has one, loads (its weights, tokenizer and feature extractor).

``check_loads`` raises ``BundleError`` naming each file that failed and why.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np

from inference_container.diffrhythm.bundle.layout import (
    CHINESE_MODEL_DIR,
    DIT_CONFIG,
    MULAN_DIR,
    NEGATIVE_STYLE,
    STEMS_FILE,
    STYLE_DIR,
    VAE_FILE,
    VOCAB,
    WHISPER_DIR,
    dit_file,
)
from inference_container.diffrhythm.bundle.reader import Bundle, BundleError
from shared.timeline import HOP, VARIANTS

PROBE_FRAMES = 32
LINES = ("Hello world, sing along", "你好世界")  # one English and one Mandarin line for the tokenizer
POLYPHONES = "银行行长的音乐"  # a line of polyphonic characters for the polyphone model
STYLE_PROMPT = "pop, upbeat"


class LoadProblem(Exception):
    """The file ``path`` (relative to the bundle) is not what the worker needs: ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


Check = Callable[[Bundle], str]  # what it showed, or raises


def check_loads(bundle: Bundle, say: Callable[[str], None] = lambda line: None) -> None:
    """Load every part of ``bundle`` as the worker does and use it once (see the module); ``BundleError`` listing
    each file that failed and why (a reason once, where two parts fail for the same one). ``say`` gets one line per
    part that passed."""
    problems: dict[str, str] = {}  # reason -> the first file it was given for
    for path, check in _checks(bundle):
        try:
            shown = check(bundle)
        except LoadProblem as problem:
            problems.setdefault(problem.reason, problem.path)
        except Exception as error:  # whatever the loader raised is the file's problem
            problems.setdefault(_reason(error, bundle.root), path)
        else:
            say(f"{path}: {shown}")
        finally:
            gc.collect()
    if problems:
        raise BundleError(f"{bundle.root} does not load as the worker loads it: "
                          + "; ".join(f"{path}: {reason}" for reason, path in problems.items()))


def _checks(bundle: Bundle) -> Iterator[tuple[str, Check]]:
    """(the file a failure is blamed on, the check), the cheapest first."""
    yield DIT_CONFIG, _dit_config
    yield NEGATIVE_STYLE, _negative_style
    if bundle.chinese_model is not None:
        yield CHINESE_MODEL_DIR, _polyphones
    yield VOCAB, _tokenizer
    yield VAE_FILE, _vae
    yield f"{STYLE_DIR}/{MULAN_DIR}", _style
    for variant in bundle.variants:
        yield dit_file(variant), partial(_dit, variant=variant)
    if bundle.stems is not None:
        yield STEMS_FILE, _stems
    if bundle.whisper is not None:
        yield WHISPER_DIR, _whisper


def _dit_config(bundle: Bundle) -> str:
    from inference_container.diffrhythm.config import DiTConfig

    configs = [DiTConfig.from_json(bundle.dit_config, VARIANTS[v].max_frames) for v in bundle.variants]
    return f"DiT config: dim {configs[0].dim}, depth {configs[0].depth}, {configs[0].text_num_embeds} text tokens"


def _negative_style(bundle: Bundle) -> str:
    from inference_container.diffrhythm.config import STYLE_DIM

    array = np.load(bundle.negative_style, allow_pickle=False)
    if array.shape != (1, STYLE_DIM) or array.dtype.kind != "f":
        raise LoadProblem(NEGATIVE_STYLE, f"{array.dtype} of shape {list(array.shape)}, "
                                          f"expected float [1, {STYLE_DIM}]")
    if not np.isfinite(array).all():
        raise LoadProblem(NEGATIVE_STYLE, "holds values that are not finite")
    return f"negative style [1, {STYLE_DIM}]"


def _polyphones(bundle: Bundle) -> str:
    from inference_container.diffrhythm.g2p.mandarin import MandarinG2P

    g2p = MandarinG2P.load(bundle.lexicon, bundle.chinese_model)
    if g2p.fallback:
        raise LoadProblem(CHINESE_MODEL_DIR, "the polyphone model did not load")
    return f"polyphone model: {POLYPHONES!r} -> {g2p(POLYPHONES)}"


def _tokenizer(bundle: Bundle) -> str:
    from inference_container.diffrhythm.config import DiTConfig
    from inference_container.diffrhythm.pipeline import load_tokenizer

    tokenizer = load_tokenizer(bundle)  # as the worker builds it
    limit = DiTConfig.from_json(bundle.dit_config, VARIANTS[bundle.variants[0]].max_frames).text_num_embeds
    shown = []
    for line in LINES:
        tokens = tokenizer.encode(line)
        if not tokens:
            raise LoadProblem(VOCAB, f"the line {line!r} gives no tokens")
        if max(tokens) > limit:
            raise LoadProblem(VOCAB, f"the line {line!r} gives token {max(tokens)}, beyond the DiT's {limit} "
                                     f"({DIT_CONFIG} text_num_embeds)")
        shown.append(f"{line!r} -> {len(tokens)} tokens")
    return "tokenizer: " + ", ".join(shown)


def _vae(bundle: Bundle) -> str:
    import torch

    from inference_container.diffrhythm.config import LATENT_CHANNELS
    from inference_container.diffrhythm.device import resolve_decode
    from inference_container.diffrhythm.vae import VAE

    try:
        vae = VAE.load(bundle.vae, "cpu", *resolve_decode("cpu"))  # as Pipeline.load builds it on a CPU
    except RuntimeError as error:  # torch.jit.load's refusal
        raise LoadProblem(VAE_FILE, f"not a TorchScript archive ({str(error).split('. ')[0]})") from error
    missing = [name for name in ("decode_export", "encode_export") if not hasattr(vae.codec, name)]
    if missing:
        raise LoadProblem(VAE_FILE, f"a TorchScript module without {' and '.join(missing)}")
    latent = torch.randn(1, PROBE_FRAMES, LATENT_CHANNELS, generator=torch.Generator().manual_seed(0))
    audio = vae.decode(latent)
    if tuple(audio.shape) != (1, 2, PROBE_FRAMES * HOP) or not bool(torch.isfinite(audio).all()):
        raise LoadProblem(VAE_FILE, f"decodes a [1, {PROBE_FRAMES}, {LATENT_CHANNELS}] latent to "
                                    f"{list(audio.shape)} (finite: {bool(torch.isfinite(audio).all())}), expected "
                                    f"finite [1, 2, {PROBE_FRAMES * HOP}]")
    encoded = vae.encode(audio)
    if tuple(encoded.shape) != (1, PROBE_FRAMES, LATENT_CHANNELS) or not bool(torch.isfinite(encoded).all()):
        raise LoadProblem(VAE_FILE, f"encodes [1, 2, {PROBE_FRAMES * HOP}] audio to {list(encoded.shape)}, "
                                    f"expected finite [1, {PROBE_FRAMES}, {LATENT_CHANNELS}]")
    return f"VAE: decode_export and encode_export over {PROBE_FRAMES} frames"


def _style(bundle: Bundle) -> str:
    import torch

    from inference_container.diffrhythm.config import STYLE_DIM
    from inference_container.diffrhythm.style import CLIP_SECONDS, MULAN_RATE, StyleEncoder

    encoder = StyleEncoder.load(bundle.style, bundle.negative_style, "cpu")  # as Pipeline.load builds it
    noise = np.random.default_rng(0).normal(0.0, 0.1, int(CLIP_SECONDS * MULAN_RATE)).astype(np.float32)
    for tower, embedding in (("text", encoder.text(STYLE_PROMPT)), ("audio", encoder.audio(noise, MULAN_RATE))):
        if tuple(embedding.shape) != (1, STYLE_DIM) or not bool(torch.isfinite(embedding).all()):
            raise LoadProblem(f"{STYLE_DIR}/{MULAN_DIR}", f"its {tower} tower gives {list(embedding.shape)}, "
                                                          f"expected finite [1, {STYLE_DIM}]")
    return f"MuQ-MuLan: text and audio embeddings [1, {STYLE_DIM}]"


def _dit(bundle: Bundle, variant: str) -> str:
    from inference_container.diffrhythm.checkpoint import load_variant

    model, _ = load_variant(bundle, variant, "fp16", "cpu", converted=False)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    return f"{variant} DiT: {parameters / 1e6:.1f} M parameters, loaded strictly"


def _stems(bundle: Bundle) -> str:
    from inference_container.diffrhythm.stems import Separator

    separator = Separator.from_bundle(bundle)
    return f"stems separator: {', '.join(separator.sources)}"


def _whisper(bundle: Bundle) -> str:
    from inference_container.transcribe import Transcriber

    assert bundle.whisper is not None
    transcriber = Transcriber.load(bundle.whisper)
    return f"lyric check's transcriber: {transcriber.label}"


def _reason(error: BaseException, root: Path) -> str:
    """The error's kind and first line, with paths relative to the bundle."""
    text = (str(error).strip().splitlines() or [""])[0].replace(f"{root}/", "")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
