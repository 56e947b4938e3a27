"""The whole DiffRhythm pipeline, composed in numbered steps: lyrics, style, reference, noise, sampling, decoding,
post-processing (with scoring and, where asked, stems). Models are loaded once (``Pipeline.load``) and reused for
every song."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from inference_container.audio import check_audio, master, peak_normalize
from inference_container.diffrhythm.bundle.reader import Bundle, BundleError
from inference_container.diffrhythm.checkpoint import load_variant
from inference_container.diffrhythm.compiled import is_compiled, prepare_dit, row_bytes, warm_up, warm_up_frames
from inference_container.diffrhythm.config import LATENT_CHANNELS
from inference_container.diffrhythm.device import resolve_decode, resolve_precision, rows_that_fit, synchronize
from inference_container.diffrhythm.g2p import LyricsTokenizer
from inference_container.diffrhythm.guidance import Inpainting
from inference_container.diffrhythm.lyric_checker import LyricChecker, LyricCheckUnavailable
from inference_container.diffrhythm.lyrics import PhonemeTokenizer, lyric_tokens
from inference_container.diffrhythm.model import DiT
from inference_container.diffrhythm.review import Listeners, review
from inference_container.diffrhythm.sampling import initial_noise, noised, remix_start, sample, segments_to_frames
from inference_container.diffrhythm.songs import Progress, Song, SongRequest, ranked
from inference_container.diffrhythm.stems import Separator, StemsUnavailable
from inference_container.diffrhythm.style import StyleEncoder
from inference_container.diffrhythm.vae import VAE
from shared.presets import grid_times
from shared.timeline import SAMPLE_RATE, variant_for

logger = logging.getLogger(__name__)

#: each stage's share of a job's time (percent); progress reports where a stage starts
_SHARES = {"lyrics": 2.0, "style": 3.0, "sampling": 80.0, "decoding": 10.0, "post-processing": 5.0}
_STAGES = {stage: sum(list(_SHARES.values())[:i]) for i, stage in enumerate(_SHARES)}


def load_tokenizer(bundle: Bundle) -> LyricsTokenizer:
    """The bundle's lyrics tokenizer: its vocabulary, the Mandarin lexicon and polyphone model where it has them (the
    worker's and ``fetch-weights``' load check's one way to build it)."""
    return LyricsTokenizer.load(bundle.vocab, bundle.lexicon, bundle.chinese_model)


class Pipeline:
    """DiT(s), VAE, style encoder and lyrics tokenizer, ready to generate songs."""

    def __init__(self, dits: dict[str, DiT], vae: VAE, style: StyleEncoder, tokenizer: PhonemeTokenizer,
                 device: str, model_name: str, separator: Separator | None = None,
                 checker: LyricChecker | None = None) -> None:
        self.dits, self.vae, self.style, self.tokenizer = dits, vae, style, tokenizer
        self.device, self.model_name = device, model_name
        self.separator = separator  # vocals/accompaniment; None where the bundle has none (stems unavailable)
        self.checker = checker  # the lyric check; None where the bundle lacks the separator or Whisper
        self.dit_files: dict[str, Path] = {}  # variant -> the file its DiT was loaded from (``load``)
        self.licences: dict[str, str] = {}  # artifact -> licence id, from the bundle's manifest (``load``)

    @classmethod
    def load(cls, weights: str, device: str = "cpu", dtype: str = "auto", variants: Sequence[str] | None = None,
             compile: str = "auto", compile_cache: str | None = None, fp8: bool = False, vae_dtype: str = "auto",
             vae_chunk: int = 0, lyric_check: bool = True) -> Pipeline:
        """Load from a weights bundle (verified against its manifest by size); each DiT from its converted
        safetensors file where the bundle has a usable one (``Bundle.dit_choice``), else from the published ``.pt``.
        Where ``compile`` compiles the DiTs (``compiled.prepare_dit``), each runs one forward here (at its window on a
        GPU, a short song on a CPU: ``compiled.warm_up_frames``), so the compile (or the load of ``compile_cache``'s
        kernels) happens before the worker is ready, not in a job. With ``fp8``, each DiT's block projections run in
        float8 where the GPU has float8 tensor cores and a probe step stays within tolerance (``prepare_dit``).
        ``vae_dtype`` and ``vae_chunk``: the decoder's precision and window (``device.resolve_decode``). The stems
        separator is loaded where the bundle has one, and with ``lyric_check`` the lyric check where it also has
        Whisper."""
        bundle = Bundle(Path(weights))
        bundle.verify(checksums=False)
        precision = resolve_precision(device, dtype)
        loaded = {variant: load_variant(bundle, variant, precision, device) for variant in variants or bundle.variants}
        dits = {variant: prepare_dit(model, device, compile, compile_cache, fp8)
                for variant, (model, _) in loaded.items()}
        for variant, model in dits.items():
            if is_compiled(model):
                seconds = warm_up(model, 1, warm_up_frames(model))
                logger.info("compiled DiT warmed up", extra={"variant": variant, "seconds": round(seconds, 1)})
        separator = Separator.load(bundle.stems, device) if bundle.stems is not None else None
        pipeline = cls(dits,
                       VAE.load(bundle.vae, device, *resolve_decode(device, vae_dtype, vae_chunk)),
                       StyleEncoder.load(bundle.style, bundle.negative_style, device),
                       load_tokenizer(bundle), device, bundle.kind, separator,
                       LyricChecker.load(bundle, separator, device) if lyric_check else None)
        pipeline.dit_files = {variant: path for variant, (_, path) in loaded.items()}
        pipeline.licences = {name: str(entry["licence"]) for name, entry in bundle.licences.items()}
        return pipeline

    def row_capacity(self, cap: int) -> int:
        """Rows (songs) one sampling call may hold on this device, at most ``cap``: on a GPU, from the free memory
        after loading and the peak of one guided forward of one row at the largest loaded window, measured here
        (``device.rows_that_fit``); on a CPU, ``cap``."""
        if not self.device.startswith("cuda"):
            return cap
        row = row_bytes(max(self.dits.values(), key=lambda dit: dit.config.max_frames))
        torch.cuda.empty_cache()
        free, total = torch.cuda.mem_get_info()
        rows = rows_that_fit(free, row, cap, total_bytes=total)
        logger.info("rows per sampling call", extra={"rows": rows, "cap": cap, "row_gib": round(row / 2**30, 2),
                                                     "free_gib": round(free / 2**30, 1)})
        return rows

    @torch.inference_mode()
    def generate(self, request: SongRequest, progress: Progress | None = None) -> Song:
        """Generate ``request.variations`` songs; bad input raises an ``inference_container.errors.InputError`` (a
        reason the user can act on), anything else is not the user's fault."""
        return self.generate_batch([request], progress)[0]

    @staticmethod
    def batch_key(request: SongRequest) -> tuple[int, int, float, int, str, tuple[float, float]]:
        """Requests with equal keys can share one sampling batch (same length, steps, guidance, first step: 0, or
        a remix's ``remix_start`` on the schedule's grid, schedule and guidance interval). Everything else is per
        row: lyrics (instrumental or not), style (mixed or not), negative style, reference, the song a remix starts
        from, seed, and post-processing (mastering, scoring, ranking)."""
        start = (remix_start(request.remix_strength, request.steps, request.schedule)
                 if request.remix_strength is not None else 0)
        return (request.audio_length, request.steps, request.cfg_strength, start, request.schedule.value,
                request.guidance_interval)

    @torch.inference_mode()
    def generate_batch(self, requests: Sequence[SongRequest], progress: Progress | None = None) -> list[Song]:
        """Generate several requests in one sampling batch (one row per variation of each request).

        All requests must share ``batch_key``; each keeps its own lyrics, style, reference, seeds and mastering.
        """
        if len({self.batch_key(r) for r in requests}) != 1:
            raise ValueError("requests in one batch must share audio_length, steps, cfg_strength, first step, "
                             "schedule and guidance interval")
        if self.separator is None and any(r.stems for r in requests):
            raise StemsUnavailable()
        if self.checker is None and any(r.min_lyrics_accuracy is not None for r in requests):
            raise LyricCheckUnavailable()
        report = progress or (lambda stage, percent: None)
        first = requests[0]
        gpu = self.device.startswith("cuda")
        if gpu:
            torch.cuda.reset_peak_memory_stats()
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round(now - clock, 3)
            clock = now

        # 1. lyrics -> frame-aligned tokens
        report("lyrics", _STAGES["lyrics"])
        variant = variant_for(first.audio_length)
        if variant.name not in self.dits:
            raise BundleError(f"the {variant.name} model is not loaded on this worker")
        model = self.dits[variant.name]
        lyrics = [lyric_tokens(r.lrc, r.audio_length, self.tokenizer, r.instrumental) for r in requests]
        n = lyrics[0].end_frame
        lap("lyrics_s")

        # 2. style and negative style embeddings per request
        report("style", _STAGES["style"])
        styles = [self._style(r) for r in requests]
        negatives = [self._negative_style(r) for r in requests]
        lap("style_s")

        # 3. what to keep: the song to edit and the frames to regenerate (everything, outside edit mode); a remix's
        # source song, whose latent sampling starts from (after the first step)
        edits = [self._edit(request, n, variant.max_frames) for request in requests]
        start = self.batch_key(first)[3]
        sources = [self._remix_latent(request, n) for request in requests] if start else []
        lap("reference_s")

        # 4. one row per variation; variation i uses seed + i, whatever else shares the batch
        rows = [(j, i) for j, request in enumerate(requests) for i in range(request.variations)]

        def pick(tensors: Sequence[torch.Tensor]) -> torch.Tensor:  # each request's [1, ...] tensor, once per row
            return torch.cat([tensors[j] for j, _ in rows])

        y0 = torch.stack([initial_noise(n, requests[j].seed + i, device=self.device) for j, i in rows])
        b = len(rows)
        if start:  # a remix: each row starts from its source's latent, noised to the first step's time
            y0 = noised(y0, pick(sources), first.steps, start, first.schedule)

        # 5. sampling with classifier-free guidance (conditional + unconditional in one batch)
        span = _STAGES["decoding"] - _STAGES["sampling"]
        latents = sample(
            model, Inpainting(pick([e.reference for e in edits]), pick([e.regenerate for e in edits])), y0,
            text=pick([lt.tokens[None].to(self.device) for lt in lyrics]), style=pick(styles),
            negative_style=pick(negatives),
            start_time=torch.full((b,), lyrics[0].start_time, device=self.device),
            duration=torch.full((b,), lyrics[0].duration, device=self.device) if variant.has_duration else None,
            steps=first.steps, cfg_strength=first.cfg_strength, start=start, schedule=first.schedule,
            guidance_interval=first.guidance_interval,
            callback=lambda i, total: report("sampling", _STAGES["sampling"] + span * i / total))
        synchronize(self.device)
        lap("sampling_s")

        # 6. decoding
        report("decoding", _STAGES["decoding"])
        waves = [self.vae.decode(latents[r:r + 1])[0].T.cpu().numpy() for r in range(b)]
        lap("decoding_s")

        # 7. post-processing: refuse broken audio, normalise (and master), then score (and rank)
        report("post-processing", _STAGES["post-processing"])
        finished: list[list[np.ndarray]] = []
        for j, request in enumerate(requests):
            finished.append([])
            for wave in (waves[r] for r, (owner, _) in enumerate(rows) if owner == j):
                check_audio(wave)
                wave = peak_normalize(wave)
                finished[j].append(master(wave, SAMPLE_RATE, request.master_preset) if request.auto_master else wave)
        lap("post_processing_s")

        # each variation's score, against the style it was made with; its stems where asked; its lyric check
        scores, stems, checks = review(requests, finished, styles, [lt.lines for lt in lyrics],
                                       Listeners(self.style, self.separator, self.checker), report, lap)
        songs = []
        for j, request in enumerate(requests):
            metadata = {
                "model": self.model_name, "variant": variant.name, "seed": request.seed,
                "seeds": [request.seed + i for i in range(request.variations)], "steps": request.steps,
                "cfg_strength": request.cfg_strength, "schedule": request.schedule,
                "guidance_interval": list(request.guidance_interval), "audio_length": request.audio_length,
                "duration_s": round(finished[j][0].shape[0] / SAMPLE_RATE, 3), "latent_frames": n,
                "auto_master": request.auto_master,
                "master_preset": request.master_preset if request.auto_master else None,
                "instrumental": request.instrumental, "style_weight": request.style_weight,
                "stems": request.stems,
                "scores": [round(score, 4) for score in scores[j]], "ranked": request.rank,
                "lyrics_accuracy": [None if c is None else round(c.lyrics_accuracy, 4) for c in checks[j]],
                "lyric_check": self.checker.label if self.checker else None,
                "batched_with": len(requests) - 1, "timings": timings, "licences": self.licences,
            }
            if request.remix_strength is not None:  # where sampling started: the grid point at or after 1 - strength
                start_t = grid_times(first.steps, first.schedule)[start]
                metadata["remix"] = {"strength": request.remix_strength, "start_t": round(start_t, 4),
                                     "steps_run": first.steps - 1 - start}
            if gpu:  # the whole batch's peak: weights, sampling and decode (the GPU's share of one song is less)
                metadata["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            song = Song(finished[j], SAMPLE_RATE, list(lyrics[j].warnings), metadata, scores[j],
                        list(lyrics[j].lines), stems[j], checks[j])
            songs.append(ranked(song) if request.rank else song)
        return songs

    def _style(self, request: SongRequest) -> torch.Tensor:
        """One request's style embedding: its prompt, its clip, or both mixed (at ``style_weight``)."""
        if request.style_audio is None:
            return self.style.text(request.style_prompt or "")
        clip = self.style.audio(*request.style_audio)
        weight = request.style_weight
        return clip if weight is None else self.style.mix(self.style.text(request.style_prompt or ""), clip, weight)

    def _negative_style(self, request: SongRequest) -> torch.Tensor:
        """The style guidance steers away from: the request's negative prompt, else the bundle's built-in one."""
        prompt = (request.negative_style_prompt or "").strip()
        return self.style.text(prompt) if prompt else self.style.negative

    def _edit(self, request: SongRequest, frames: int, max_frames: int) -> Inpainting:
        """One request's reference latent and frames to regenerate (one row; all frames outside edit mode)."""
        if request.edit_audio is None:
            return Inpainting.everything(1, frames, LATENT_CHANNELS, self.device)
        segments = segments_to_frames(request.edit_segments or [[-1, -1]], max_frames)
        return Inpainting.segments(self._reference_latent(*request.edit_audio, frames), segments)

    def _remix_latent(self, request: SongRequest, frames: int) -> torch.Tensor:
        """The latent of the song a remix starts from (a batch that starts after 0 holds remixes only)."""
        if request.remix_audio is None:
            raise ValueError("a batch that starts after the first step holds remixes only")
        return self._reference_latent(*request.remix_audio, frames)

    def _reference_latent(self, audio: np.ndarray, rate: int, frames: int) -> torch.Tensor:
        """Encode the song to edit (stereo 44.1 kHz, peak at -6 dBFS) into a latent of ``frames`` frames."""
        import torchaudio.functional

        wave = torch.from_numpy(np.ascontiguousarray(audio.T if audio.ndim == 2 else audio[None], dtype=np.float32))
        wave = wave.repeat(2, 1)[:2] if wave.shape[0] == 1 else wave[:2]
        if rate != SAMPLE_RATE:
            wave = torchaudio.functional.resample(wave, rate, SAMPLE_RATE)
        wave = wave / wave.abs().max().clamp(min=1e-8) * 10 ** (-6 / 20)
        latent = self.vae.encode(wave[None].to(self.device))
        padded = torch.zeros(1, frames, LATENT_CHANNELS, device=self.device)
        padded[:, : min(frames, latent.shape[1])] = latent[:, :frames]
        return padded
