"""DiT speed: one guided step and a whole song, OUR path beside an upstream-like reference path, in the same run.

    python -m benchmarks.model [--quick] [--device cuda|cpu] [--dtype fp16,bf16] [--frames 2048,6144]
        [--batch 1,2,4,8] [--sample-batch 1,4] [--steps 32] [--compiled [--variants ours-compiled]] [--no-reference]
        [--out DIR]

Builds the full-size DiT (1.1 B parameters, random weights: speed does not depend on the values) once per latent
window, with the same weights for every path, and times

- **step**: one guided velocity, conditional and unconditional branches together. Ours: ``guidance.guided`` (both
  branches as one batch of ``2b``, step-invariant conditioning prepared once, outside the timing). Reference:
  ``benchmarks.reference.UpstreamLike`` (two forwards, everything recomputed, an attention mask);
- **sampling**: ``sampling.sample`` (ours) and ``UpstreamLike.sample`` over ``--steps`` grid points, preparation
  included;
- **decode**: ``vae.VAE`` over a full-size stand-in decoder (``benchmarks.oobleck``), one row, in every precision
  and window the worker may use (fp32, fp16, bf16 on a GPU; ``--decode-windows``: the whole latent and 128-frame
  chunks), with the audio's error against fp32; a **song** is sampling plus the worker's default decode
  (``device.resolve_decode``) per row;
- **overlap**: one song's decode on a second thread and CUDA stream while the next samples, against one after the
  other (``ours-compiled`` with ``--compiled``, else our last precision).

With ``--compiled``, our path also runs on prepared copies of the same model (``inference_container.diffrhythm.
compiled``): ``ours-fused`` (QKV and gate/up projections fused), ``ours-compiled`` (decoder blocks compiled),
``ours-compiled-fused``, and on a GPU with float8 tensor cores ``ours-fp8`` and ``ours-compiled-fp8`` (the blocks'
projections in float8, ``inference_container.diffrhythm.float8``; ``--variants`` picks some, and can ask for the
float8 ones anywhere: a CPU computes them, slowly); each one's first call at each shape is timed on its own
(``first-call``: the compile, at the first shape) and its step compared with eager ``ours``. ``--compile-cache FILE``
then writes the compile cache and times one first call again after ``torch._dynamo.reset()`` (``first-call-cached``:
what a worker pays whose caches hold the kernels).

The reference runs in fp16 on a GPU and fp32 on a CPU (as upstream runs there); ``vs ref`` is the reference's
time over the row's (above 1: ours is faster). CUDA timings synchronize around each run, after warm-up runs; the
figure is the median of the timed runs. Peak GiB: the model's weights plus the peak allocated above what was
resident before the runs. Upstream's own ``CFM.sample`` is not timed here (no ``--upstream``): its code needs
packages and a ``transformers`` version this project does not carry; ``README.md`` says more.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.oobleck import OobleckDecoder
from benchmarks.reference import UpstreamLike
from benchmarks.report import RESULTS, environment, result_path, table, write_json
from benchmarks.timing import Timing, measure
from inference_container.diffrhythm.compiled import compile_dit, fuse_projections, save_cache
from inference_container.diffrhythm.config import LATENT_CHANNELS, STYLE_DIM, DiTConfig
from inference_container.diffrhythm.device import cpu_has_bf16, resolve_decode, torch_dtype
from inference_container.diffrhythm.float8 import float8_supported, to_float8
from inference_container.diffrhythm.guidance import Inpainting, guided
from inference_container.diffrhythm.model import DiT
from inference_container.diffrhythm.sampling import sample
from inference_container.diffrhythm.vae import VAE, relative_error
from shared.timeline import FULL, SHORT, Variant

GIB = 2**30


FLOAT8_PATHS = ("ours-fp8", "ours-compiled-fp8")  # block projections in float8 (float8.to_float8)
COMPILED_PATHS = ("ours-fused", "ours-compiled", "ours-compiled-fused", *FLOAT8_PATHS)  # our path on prepared copies


@dataclass(frozen=True)
class Settings:
    """What one run measures (``--quick`` and the device choose the defaults)."""

    device: str
    reference_precision: str
    precisions: tuple[str, ...]  # our path's
    frames: tuple[int, ...]
    batches: tuple[int, ...]  # for the step
    sample_batches: tuple[int, ...]  # for whole sampling
    steps: int
    cfg_strength: float
    depth: int
    vae_channels: int
    reps: int
    warmup: int
    sample_reps: int
    sample_warmup: int
    ablate: bool  # also time the reference without its attention mask (steps only)
    budget_s: float | None  # skip sampling cases that would end past this many seconds from the start
    seed: int
    quick: bool
    compiled: bool = False  # also the fused / compiled copies of our path
    compile_mode: str | None = None  # torch.compile's mode for them (None: default)
    reference: bool = True  # time the reference path (off: our variants only, e.g. beside an earlier run)
    compile_cache: str | None = None  # write the compile cache here, then time a first call with warm caches
    decode: bool = True  # time the stand-in VAE decode
    decode_windows: tuple[int | None, ...] = (None, 128)  # the decode's windows (None: the whole latent)
    variants: tuple[str, ...] = COMPILED_PATHS  # which prepared copies --compiled times (float8 only on float8 GPUs)


@dataclass(frozen=True)
class Case:
    """A path (``ours``, one of ``COMPILED_PATHS``, ``reference`` or ``reference-nomask``) in a precision."""

    path: str
    precision: str

    def __str__(self) -> str:
        return f"{self.path} {self.precision}"

    @property
    def ours(self) -> bool:
        """Our product path (on the model as loaded, or a fused / compiled copy)."""
        return self.path.startswith("ours")

    @property
    def compiled(self) -> bool:
        return "compiled" in self.path


@dataclass(frozen=True)
class Inputs:
    """One batch of songs: lyric tokens, styles, times and noise, on the device (float32 where not ids)."""

    text: torch.Tensor
    cond: torch.Tensor
    style: torch.Tensor
    negative_style: torch.Tensor
    start_time: torch.Tensor
    duration: torch.Tensor | None
    noise: torch.Tensor


def window(frames: int) -> Variant:
    """The published model that generates ``frames`` latent frames."""
    if frames <= SHORT.max_frames:
        return SHORT
    if frames <= FULL.max_frames:
        return FULL
    raise ValueError(f"at most {FULL.max_frames} frames, got {frames}")


def make_inputs(config: DiTConfig, frames: int, batch: int, device: torch.device, seed: int) -> Inputs:
    """Random lyric tokens, unit-norm styles, start time 0, the song's duration (full model), standard noise."""
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(1, config.text_num_embeds + 1, (batch, frames), generator=g)
    style, negative = (F.normalize(torch.randn(batch, STYLE_DIM, generator=g), dim=-1) for _ in range(2))
    duration = torch.full((batch,), frames / config.max_frames) if config.has_duration else None
    noise = torch.randn(batch, frames, LATENT_CHANNELS, generator=g)
    return Inputs(text.to(device), torch.zeros(batch, frames, LATENT_CHANNELS, device=device), style.to(device),
                  negative.to(device), torch.zeros(batch, device=device),
                  None if duration is None else duration.to(device), noise.to(device))


Models = dict[tuple[int, str], DiT]


def build_models(settings: Settings, device: torch.device) -> Models:
    """One DiT per (window, precision), each window's weights drawn once (fp32) and cast for every precision."""
    precisions = {settings.reference_precision, *settings.precisions} if settings.reference else {*settings.precisions}
    models: Models = {}
    for max_frames in sorted({window(n).max_frames for n in settings.frames}):
        torch.manual_seed(settings.seed)
        with device:
            master = DiT(DiTConfig(depth=settings.depth, max_frames=max_frames)).eval().requires_grad_(False)
        for precision in sorted(precisions):
            dtype = torch_dtype(precision)
            models[max_frames, precision] = master if dtype == torch.float32 else copy.deepcopy(master).to(dtype)
        del master
    return models


_PREPARED: dict[tuple[int, str, str], DiT] = {}


def model_for(models: Models, frames: int, case: Case, settings: Settings) -> DiT:
    """The model a case runs: the built one, or (``COMPILED_PATHS``) a fused and/or compiled copy of it, made once."""
    base = models[window(frames).max_frames, case.precision]
    if case.path not in COMPILED_PATHS:
        return base
    key = (window(frames).max_frames, case.precision, case.path)
    if key not in _PREPARED:
        model = copy.deepcopy(base)
        if "fused" in case.path:
            fuse_projections(model)
        if case.path in FLOAT8_PATHS:
            to_float8(model)
        if case.compiled:
            compile_dit(model, mode=settings.compile_mode)
        _PREPARED[key] = model
    return _PREPARED[key]


def weight_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def step_fn(case: Case, model: DiT, inputs: Inputs, cfg_strength: float) -> Callable[[], torch.Tensor]:
    """One guided velocity at t = 0.5 (our conditioning is prepared here, outside the timing)."""
    device = inputs.noise.device
    if case.ours:
        with torch.inference_mode():
            velocity = guided(model, text=inputs.text, cond=inputs.cond, style=inputs.style,
                              negative_style=inputs.negative_style, start_time=inputs.start_time,
                              duration=inputs.duration, cfg_strength=cfg_strength)
        t = torch.tensor(0.5, device=device)
        return lambda: velocity(inputs.noise, t)
    dtype = model.dtype
    reference = UpstreamLike(model, mask=case.path == "reference")
    x, cond, style, negative = (v.to(dtype) for v in (inputs.noise, inputs.cond, inputs.style, inputs.negative_style))
    start = inputs.start_time.to(dtype)
    duration = None if inputs.duration is None else inputs.duration.to(dtype)
    t = torch.tensor(0.5, device=device, dtype=dtype)
    return lambda: reference.velocity(x, t, text=inputs.text, cond=cond, style=style, negative_style=negative,
                                      start_time=start, duration=duration, cfg_strength=cfg_strength)


def sample_fn(case: Case, model: DiT, inputs: Inputs, steps: int, cfg_strength: float) -> Callable[[], torch.Tensor]:
    """A whole sampling from noise, including what each path prepares per song."""
    b, n, c = inputs.noise.shape
    if case.ours:
        return lambda: sample(model, Inpainting.everything(b, n, c, inputs.noise.device), inputs.noise,
                              text=inputs.text, style=inputs.style, negative_style=inputs.negative_style,
                              start_time=inputs.start_time, duration=inputs.duration, steps=steps,
                              cfg_strength=cfg_strength)
    reference = UpstreamLike(model, mask=case.path == "reference")
    return lambda: reference.sample(inputs.noise, text=inputs.text, cond=inputs.cond, style=inputs.style,
                                    negative_style=inputs.negative_style, start_time=inputs.start_time,
                                    duration=inputs.duration, steps=steps, cfg_strength=cfg_strength)


class Run:
    """The measurements of one run, written to JSON after each one (a run cut short still leaves a valid file)."""

    def __init__(self, settings: Settings, device: torch.device, path: Path, commit: str | None) -> None:
        self.settings, self.device, self.path = settings, device, path
        self.started = time.perf_counter()
        self.data: dict[str, Any] = {"benchmark": "model", "environment": environment(device, commit),
                                     "settings": asdict(settings), "model": {}, "agreement": [], "rows": []}

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def save(self) -> None:
        self.data["elapsed_s"] = round(self.elapsed(), 1)
        write_json(self.path, self.data)

    def record(self, stage: str, frames: int, batch: int, case: Case, timing: Timing | None, weights: int,
               skipped: str | None = None) -> dict[str, Any]:
        row: dict[str, Any] = {"stage": stage, "frames": frames, "batch": batch, "path": case.path,
                               "precision": case.precision}
        if timing is None:
            row["skipped"] = skipped
        else:
            row |= {"median_s": round(timing.median_s, 5), "runs_s": [round(r, 5) for r in timing.runs_s]}
            if timing.peak_bytes is not None and timing.base_bytes is not None:
                row["peak_gib"] = round((weights + timing.peak_bytes - timing.base_bytes) / GIB, 2)
        self.data["rows"].append(row)
        self.save()
        shown = f"{timing.median_s * 1e3:.1f} ms" if timing else f"skipped ({skipped})"
        print(f"{stage:8} {frames:5} x{batch} {case}: {shown}", flush=True)
        return row

    def median(self, stage: str, frames: int, batch: int, case: Case) -> float | None:
        for row in self.data["rows"]:
            if (row["stage"], row["frames"], row["batch"], row["path"], row["precision"]) == (
                    stage, frames, batch, case.path, case.precision) and "median_s" in row:
                return float(row["median_s"])
        return None


def measure_or_skip(fn: Callable[[], object], device: torch.device, warmup: int, reps: int) -> Timing | str:
    """The timing, or why there is none (out of GPU memory)."""
    try:
        return measure(fn, device, warmup=warmup, reps=reps)
    except torch.OutOfMemoryError:
        return "out of GPU memory"
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


def agreement(run: Run, models: Models, case: Case, settings: Settings) -> None:
    """Ours and the reference on the same step, in the reference's precision: the largest difference relative to the
    largest value (the reference path computes our numbers, up to rounding)."""
    for frames in settings.frames:
        model = models[window(frames).max_frames, case.precision]
        inputs = make_inputs(model.config, frames, 1, run.device, settings.seed)
        with torch.inference_mode():
            ours = step_fn(Case("ours", case.precision), model, inputs, settings.cfg_strength)().float()
            theirs = step_fn(case, model, inputs, settings.cfg_strength)().float()
        relative = ((ours - theirs).abs().max() / ours.abs().max()).item()
        run.data["agreement"].append({"frames": frames, "precision": case.precision, "max_rel_diff": relative,
                                      "finite": bool(ours.isfinite().all() and theirs.isfinite().all())})
        print(f"agreement {frames:5} {case.precision}: max |ours - reference| / max |ours| = {relative:.2e}",
              flush=True)
    run.save()


def first_calls(run: Run, models: Models, cases: Sequence[Case]) -> None:
    """Each fused / compiled case's first step at every shape, timed alone (a compile shows here), and how far its
    step is from eager ``ours`` in the same precision (largest difference / largest value)."""
    s = run.settings
    for case in (c for c in cases if c.path in COMPILED_PATHS):
        for frames in s.frames:
            for batch in s.batches:
                model = model_for(models, frames, case, s)
                inputs = make_inputs(model.config, frames, batch, run.device, s.seed)
                step = step_fn(case, model, inputs, s.cfg_strength)
                try:
                    timing = measure(step, run.device, warmup=0, reps=1)
                except torch.OutOfMemoryError:
                    run.record("first-call", frames, batch, case, None, 0, "out of GPU memory")
                    continue
                run.record("first-call", frames, batch, case, timing, weight_bytes(model))
                if batch != s.batches[0]:
                    continue
                with torch.inference_mode():
                    ours = step_fn(Case("ours", case.precision), model_for(models, frames, Case("ours", case.precision),
                                                                       s), inputs, s.cfg_strength)().float()
                    theirs = step().float()
                relative = ((ours - theirs).abs().max() / ours.abs().max()).item()
                run.data["agreement"].append({"frames": frames, "precision": case.precision, "path": case.path,
                                              "against": "ours", "max_rel_diff": relative,
                                              "finite": bool(theirs.isfinite().all())})
                print(f"agreement {frames:5} {case}: max |ours - {case.path}| / max |ours| = {relative:.2e}",
                      flush=True)


def write_compile_cache(run: Run) -> None:
    """Write what the run compiled so far to ``--compile-cache`` (torch's portable compile cache)."""
    s = run.settings
    if s.compile_cache is None or not s.compiled:
        return
    started = time.perf_counter()
    size = save_cache(s.compile_cache)
    run.data["compile_cache"] = {"path": s.compile_cache, "bytes": size,
                                 "save_s": round(time.perf_counter() - started, 3)}
    run.save()


def cached_first_call(run: Run, models: Models, cases: Sequence[Case]) -> None:
    """Forget every compiled graph (``torch._dynamo.reset``) and time the first step of the first compiled case
    again: tracing plus kernels from the caches, no kernel builds (with ``--compile-cache``)."""
    s = run.settings
    compiled = [c for c in cases if c.compiled]
    if s.compile_cache is None or not compiled:
        return
    torch._dynamo.reset()
    case, frames, batch = compiled[0], s.frames[0], s.batches[0]
    model = model_for(models, frames, case, s)
    inputs = make_inputs(model.config, frames, batch, run.device, s.seed)
    timing = measure(step_fn(case, model, inputs, s.cfg_strength), run.device, warmup=0, reps=1)
    run.record("first-call-cached", frames, batch, case, timing, weight_bytes(model))


def run_steps(run: Run, models: Models, cases: Sequence[Case]) -> None:
    s = run.settings
    for frames in s.frames:
        for batch in s.batches:
            for case in cases:
                model = model_for(models, frames, case, s)
                inputs = make_inputs(model.config, frames, batch, run.device, s.seed)
                result = measure_or_skip(step_fn(case, model, inputs, s.cfg_strength), run.device, s.warmup, s.reps)
                timing = result if isinstance(result, Timing) else None
                run.record("step", frames, batch, case, timing, weight_bytes(model),
                           None if timing else str(result))


def standin_decoder(run: Run) -> OobleckDecoder:
    """The full-size stand-in decoder in float32 (random weights from the run's seed), built once per run."""
    torch.manual_seed(run.settings.seed)
    decoder = OobleckDecoder(run.settings.vae_channels).to(run.device).eval().requires_grad_(False)
    run.data["model"]["vae_standin_parameters"] = sum(p.numel() for p in decoder.parameters())
    return decoder


def half_copy(decoder: OobleckDecoder, precision: str) -> tuple[OobleckDecoder, torch.dtype] | None:
    """The decoder's copy in ``precision`` as ``VAE(half=...)`` takes it (None for fp32), as ``VAE.load`` makes it."""
    dtype = torch_dtype(precision)
    return (copy.deepcopy(decoder).to(dtype), dtype) if dtype != torch.float32 else None


def run_decodes(run: Run, decoder: OobleckDecoder) -> None:
    """Each decode precision and window the product may use (``--decode-windows``), timed, with its audio's relative
    error against the float32 decode in the first window (by default the whole latent; ``vae.relative_error``; the
    product keeps half precision within ``vae.HALF_TOLERANCE``)."""
    s = run.settings
    gpu = run.device.type == "cuda"
    halves = {precision: half_copy(decoder, precision) for precision in (("fp32", "fp16", "bf16") if gpu else
                                                                        ("fp32",))}
    for frames in s.frames:
        latent = torch.randn(1, frames, LATENT_CHANNELS, generator=torch.Generator().manual_seed(s.seed))
        latent = latent.to(run.device)
        exact = None
        for precision, half in halves.items():
            for chunk in s.decode_windows:
                vae = VAE(decoder, chunk=chunk, half=half)
                case = Case(f"vae-{chunk or 'whole'}", precision)
                result = measure_or_skip(partial(vae.decode, latent), run.device, 1, max(1, s.sample_reps))
                timing = result if isinstance(result, Timing) else None
                row = run.record("decode", frames, 1, case, timing, weight_bytes(vae.codec),  # type: ignore[arg-type]
                                 None if timing else str(result))
                if timing is None:
                    continue
                with torch.inference_mode():
                    audio = vae.decode(latent)
                if exact is None:
                    exact = audio
                row["rel_error"] = float(f"{relative_error(audio, exact):.3g}")
                row["finite"] = bool(torch.isfinite(audio).all())
                run.save()
                del vae, audio
                if gpu:
                    torch.cuda.empty_cache()


def overlapped(sampler: Callable[[], object], decode: Callable[[], object],
               side: torch.cuda.Stream | None) -> Callable[[], None]:
    """``decode`` on a second thread (and CUDA stream ``side``) while this thread runs ``sampler``."""
    def decode_aside() -> None:
        with torch.inference_mode(), torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
            decode()
        if side is not None:
            side.synchronize()

    def both() -> None:
        thread = threading.Thread(target=decode_aside)
        thread.start()
        sampler()
        thread.join()

    return both


def run_overlap(run: Run, models: Models, case: Case, decoder: OobleckDecoder) -> None:
    """A song's decode on a second thread (and CUDA stream) while the next song samples, against one after the
    other: what overlapping the two stages would save (both run on the same GPU)."""
    s = run.settings
    precision, chunk = resolve_decode(run.device.type)  # the worker's default decode
    vae = VAE(decoder, chunk=chunk, half=half_copy(decoder, precision))
    side = torch.cuda.Stream(run.device) if run.device.type == "cuda" else None
    for frames in s.frames:
        model = model_for(models, frames, case, s)
        inputs = make_inputs(model.config, frames, 1, run.device, s.seed)
        sampler = sample_fn(case, model, inputs, s.steps, s.cfg_strength)
        decode = partial(vae.decode, inputs.noise)
        paths = {"song-sequential": lambda sampler=sampler, decode=decode: (sampler(), decode()),
                 "song-overlapped": overlapped(sampler, decode, side)}
        for name, fn in paths.items():
            result = measure_or_skip(fn, run.device, 1, max(1, s.sample_reps))
            timing = result if isinstance(result, Timing) else None
            run.record(name, frames, 1, case, timing, weight_bytes(model), None if timing else str(result))


def run_sampling(run: Run, models: Models, cases: Sequence[Case]) -> None:
    s = run.settings
    for batch in s.sample_batches:
        for frames in s.frames:
            for case in cases:
                model = model_for(models, frames, case, s)
                step = run.median("step", frames, batch, case)
                if step is None and (one := run.median("step", frames, 1, case)) is not None:
                    step = one * batch
                estimate = (step or 0.0) * (s.steps - 1) * (s.sample_warmup + s.sample_reps)
                if s.budget_s is not None and run.elapsed() + estimate > s.budget_s:
                    run.record("sampling", frames, batch, case, None, 0, f"time budget: ~{estimate:.0f} s")
                    continue
                inputs = make_inputs(model.config, frames, batch, run.device, s.seed)
                result = measure_or_skip(sample_fn(case, model, inputs, s.steps, s.cfg_strength), run.device,
                                         s.sample_warmup, s.sample_reps)
                timing = result if isinstance(result, Timing) else None
                run.record("sampling", frames, batch, case, timing, weight_bytes(model),
                           None if timing else str(result))


def _ratio(reference: float | None, value: float | None) -> str | None:
    return f"{reference / value:.2f}x" if reference and value else None


def tables(run: Run) -> str:
    """The step, decode and whole-song tables, each row beside the reference of the same shape."""
    rows = run.data["rows"]

    def reference(stage: str, frames: int, batch: int) -> float | None:
        return run.median(stage, frames, batch, Case("reference", run.settings.reference_precision))

    steps = [[r["frames"], r["batch"], r["path"], r["precision"],
              f"{r['median_s'] * 1e3:.1f}" if "median_s" in r else r["skipped"],
              _ratio(reference("step", r["frames"], r["batch"]), r.get("median_s")), r.get("peak_gib")]
             for r in rows if r["stage"] == "step"]
    decodes = [[r["frames"], r["path"].removeprefix("vae-"), r["precision"],
                f"{r['median_s']:.3f}" if "median_s" in r else r["skipped"], r.get("rel_error"), r.get("peak_gib")]
               for r in rows if r["stage"] == "decode"]
    decode_precision, decode_chunk = resolve_decode(run.device.type)
    decode_case = Case(f"vae-{decode_chunk or 'whole'}", decode_precision)
    overlaps = [[r["frames"], r["path"], r["precision"], f"{r['median_s']:.3f}" if "median_s" in r else r["skipped"],
                 f"{o:.3f}" if (o := run.median("song-overlapped", r["frames"], 1, Case(r["path"], r["precision"])))
                 else None, _ratio(r.get("median_s"), o)] for r in rows if r["stage"] == "song-sequential"]
    songs = []
    for r in (r for r in rows if r["stage"] == "sampling"):
        decode = run.median("decode", r["frames"], 1, decode_case)
        if "median_s" not in r:
            songs.append([r["frames"], r["batch"], r["path"], r["precision"], r["skipped"], *[None] * 5])
            continue
        total = r["median_s"] + (decode or 0.0) * r["batch"]
        ref_sampling = reference("sampling", r["frames"], r["batch"])
        ref_total = None if ref_sampling is None else ref_sampling + (decode or 0.0) * r["batch"]
        songs.append([r["frames"], r["batch"], r["path"], r["precision"], f"{r['median_s']:.3f}",
                      _ratio(ref_sampling, r["median_s"]), f"{total:.3f}", f"{total / r['batch']:.3f}",
                      _ratio(ref_total, total), r.get("peak_gib")])
    s = run.settings
    parts = [
        f"One guided DiT step (conditional + unconditional), ms, median of {s.reps} after {s.warmup} warm-up:\n"
        + table(["frames", "batch", "path", "dtype", "ms", "vs ref", "peak GiB"], steps),
        f"VAE decode of one row (full-size stand-in; window: the whole latent, or chunks of 128 frames overlapping "
        f"by 32), s, median of {max(1, s.sample_reps)}; error: relative L2 against fp32 "
        f"{'whole' if s.decode_windows[0] is None else f'in windows of {s.decode_windows[0]}'}:\n"
        + table(["frames", "window", "dtype", "s", "error", "peak GiB"], decodes),
        f"Whole song: sampling ({s.steps} steps, cfg {s.cfg_strength}) + the worker's default decode of every row "
        f"({decode_precision}, window {decode_chunk or 'whole'}), s, median of {s.sample_reps}:\n"
        + table(["frames", "batch", "path", "dtype", "sampling s", "vs ref", "song s", "per song s", "vs ref",
                 "peak GiB"], songs),
    ]
    if overlaps:
        parts.append("One song's decode overlapped with the next song's sampling (a second thread and CUDA stream) "
                     "against one after the other, batch 1, s:\n"
                     + table(["frames", "path", "dtype", "sequential s", "overlapped s", "gain"], overlaps))
    if s.compiled:
        parts.append(compiled_table(run))
    return "\n\n".join(parts)


def compiled_table(run: Run) -> str:
    """Our path eager, fused and compiled, side by side: step, whole sampling, and the first call (the compile)."""
    s = run.settings
    rows = []
    for frames in s.frames:
        for batch in sorted({*s.batches, *s.sample_batches}):
            for precision in s.precisions:
                eager_step = run.median("step", frames, batch, Case("ours", precision))
                eager_sampling = run.median("sampling", frames, batch, Case("ours", precision))
                for path in ("ours", *COMPILED_PATHS):
                    case = Case(path, precision)
                    step = run.median("step", frames, batch, case)
                    sampling = run.median("sampling", frames, batch, case)
                    first = run.median("first-call", frames, batch, case)
                    if step is None and sampling is None:
                        continue
                    rows.append([frames, batch, path, precision, None if step is None else f"{step * 1e3:.1f}",
                                 _ratio(eager_step, step), None if sampling is None else f"{sampling:.3f}",
                                 _ratio(eager_sampling, sampling), None if first is None else f"{first:.1f}"])
    cached = [r for r in run.data["rows"] if r["stage"] == "first-call-cached" and "median_s" in r]
    note = "".join(f"\nFirst call after torch._dynamo.reset() with the kernels in the caches ({r['path']}, "
                   f"{r['frames']} x {r['batch']}): {r['median_s']:.1f} s." for r in cached)
    if "compile_cache" in run.data:
        note += f"\nCompile cache: {run.data['compile_cache']['bytes'] / 2**20:.1f} MiB."
    return (f"Ours eager, fused and compiled (mode {s.compile_mode or 'default'}): step ms (median of {s.reps}), "
            f"sampling s ({s.steps} steps), first call s (compile included):\n"
            + table(["frames", "batch", "path", "dtype", "step ms", "vs eager", "sampling s", "vs eager",
                     "first call s"], rows) + note)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def parse(argv: Sequence[str] | None = None) -> tuple[Settings, Path, str | None]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.model", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="depth 2, 128 frames, 3 steps: a CPU smoke run")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--dtype", type=_names, help="our path's precisions (default fp16,bf16 on a GPU; fp32 on a "
                                                     "CPU, and bf16 where it has AVX512-BF16 or AMX)")
    parser.add_argument("--reference-dtype", help="the reference's precision (default fp16 on a GPU, fp32 on a CPU)")
    parser.add_argument("--frames", type=_ints, help="latent frames (2048 = 95 s, 6144 = 285 s)")
    parser.add_argument("--batch", type=_ints, help="songs per batch for the step")
    parser.add_argument("--sample-batch", type=_ints, help="songs per batch for whole sampling")
    parser.add_argument("--steps", type=int, help="sampling grid points (steps - 1 Euler updates)")
    parser.add_argument("--cfg", type=float, default=4.0, help="guidance strength")
    parser.add_argument("--depth", type=int, help="decoder blocks (default 16; --quick: 2)")
    parser.add_argument("--reps", type=int, help="timed runs of a step")
    parser.add_argument("--warmup", type=int, help="untimed runs before a step's timed ones")
    parser.add_argument("--sample-reps", type=int, help="timed runs of a sampling (and a decode)")
    parser.add_argument("--sample-warmup", type=int, default=0, help="untimed samplings first (the step's runs "
                                                                      "already warmed the same shapes)")
    parser.add_argument("--ablate", action="store_true", help="also time the reference without its attention mask")
    parser.add_argument("--budget-s", type=float, help="skip sampling cases that would end past this many seconds")
    parser.add_argument("--compiled", action="store_true", help="also our path fused, compiled, and both")
    parser.add_argument("--variants", type=_names, default=None,
                        help=f"with --compiled: which of {', '.join(COMPILED_PATHS)} (default all; the fp8 ones only "
                             "on a GPU with float8 tensor cores)")
    parser.add_argument("--compile-mode", help="torch.compile mode for --compiled (default: torch's default)")
    parser.add_argument("--compile-cache", help="with --compiled: write the compile cache to this file, then time a "
                                                "first call with the caches warm")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference path (our variants only)")
    parser.add_argument("--no-decode", action="store_true", help="skip the decode (song times are then sampling only)")
    parser.add_argument("--decode-windows", default="whole,128",
                        help="the decode's windows: frames, or whole for the latent at once (default whole,128)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON (default benchmarks/results)")
    parser.add_argument("--commit", help="the git commit to record instead of asking git (a copied tree's .git may "
                                         "be missing or stale)")
    args = parser.parse_args(argv)

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    gpu = device == "cuda"
    if args.quick:
        defaults: dict[str, Any] = {"frames": (128,), "batch": (1, 2), "sample_batch": (1,), "steps": 3, "depth": 2,
                                    "reps": 2, "warmup": 1, "sample_reps": 1, "vae_channels": 16}
    elif gpu:
        defaults = {"frames": (2048, 6144), "batch": (1, 2, 4, 8), "sample_batch": (1,), "steps": 32, "depth": 16,
                    "reps": 5, "warmup": 2, "sample_reps": 3, "vae_channels": 128}
    else:  # a full-size step on a CPU takes minutes: one short sampling
        defaults = {"frames": (2048,), "batch": (1,), "sample_batch": (1,), "steps": 3, "depth": 16, "reps": 1,
                    "warmup": 0, "sample_reps": 1, "vae_channels": 128}

    def pick(name: str) -> Any:
        value = getattr(args, name)
        return defaults[name] if value is None else value

    settings = Settings(
        device=device, reference_precision=args.reference_dtype or ("fp16" if gpu else "fp32"),
        precisions=args.dtype or (("fp16", "bf16") if gpu else ("fp32", "bf16") if cpu_has_bf16() else ("fp32",)),
        frames=pick("frames"),
        batches=pick("batch"), sample_batches=pick("sample_batch"), steps=pick("steps"), cfg_strength=args.cfg,
        depth=pick("depth"), vae_channels=defaults["vae_channels"], reps=pick("reps"), warmup=pick("warmup"),
        sample_reps=pick("sample_reps"), sample_warmup=args.sample_warmup, ablate=args.ablate,
        budget_s=args.budget_s, seed=args.seed, quick=args.quick, compiled=args.compiled,
        compile_mode=args.compile_mode, reference=not args.no_reference, compile_cache=args.compile_cache,
        decode=not args.no_decode,
        variants=args.variants or tuple(p for p in COMPILED_PATHS if p not in FLOAT8_PATHS or float8_supported(device)),
        decode_windows=tuple(None if w == "whole" else int(w) for w in args.decode_windows.split(",") if w),
    )
    for frames in settings.frames:
        window(frames)
    if unknown := set(settings.variants) - set(COMPILED_PATHS):
        parser.error(f"--variants: unknown {', '.join(sorted(unknown))} (choose from {', '.join(COMPILED_PATHS)})")
    return settings, args.out, args.commit


def main(argv: Sequence[str] | None = None) -> None:
    settings, out, commit = parse(argv)
    device = torch.device(settings.device)
    suffix = "-".join(name for name, on in (("quick", settings.quick), ("compiled", settings.compiled)) if on)
    run = Run(settings, device, result_path(out, "model", device, suffix), commit)
    env = run.data["environment"]
    print(f"{env['device_name']} · torch {env['torch']} · commit {env['git']['commit'][:12]} · "
          f"{', '.join(f'{f.name}={getattr(settings, f.name)}' for f in fields(settings))}", flush=True)

    models = build_models(settings, device)
    any_model = next(iter(models.values()))
    run.data["model"] = {"parameters": sum(p.numel() for p in any_model.parameters()),
                         **{k: v for k, v in asdict(any_model.config).items() if k != "max_frames"}}
    print(f"DiT: {run.data['model']['parameters'] / 1e9:.3f} B parameters, built in {run.elapsed():.1f} s",
          flush=True)
    reference = Case("reference", settings.reference_precision)
    ours = [Case("ours", p) for p in settings.precisions]
    variants = [Case(path, p) for p in settings.precisions for path in settings.variants] if settings.compiled else []
    cases = [reference, *ours] if settings.reference else ours
    step_cases = [*cases, Case("reference-nomask", settings.reference_precision)] if settings.ablate else cases
    # sampling: every shape eager and compiled first, then the fused copies (a budget cuts the last ones)
    first_pass = [*cases, *(c for c in variants if c.path == "ours-compiled")]
    second_pass = [c for c in variants if c not in first_pass]

    if settings.reference:
        agreement(run, models, reference, settings)
    first_calls(run, models, variants)
    write_compile_cache(run)
    run_steps(run, models, [*step_cases, *variants])
    decoder = standin_decoder(run) if settings.decode else None
    if decoder is not None:
        run_decodes(run, decoder)
    run_sampling(run, models, first_pass)
    run_sampling(run, models, second_pass)
    if decoder is not None:
        run_overlap(run, models, next((c for c in variants if c.path == "ours-compiled"), ours[-1]), decoder)
    if variants:  # how many graphs the compiled blocks needed, and the compile caches' hits
        counters = torch._dynamo.utils.counters
        run.data["dynamo"] = {"unique_graphs": counters["stats"]["unique_graphs"],
                              **{k: v for k, v in counters["inductor"].items() if "cache" in k}}
        run.save()
    cached_first_call(run, models, variants)  # last: it forgets the compiled graphs
    print("\n" + tables(run) + f"\n\n{run.path} ({run.elapsed():.0f} s)", flush=True)


if __name__ == "__main__":
    main()
