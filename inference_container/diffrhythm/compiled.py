"""Speed-ups applied to a loaded DiT: ``torch.compile`` of its decoder blocks, the compile cache a worker image
carries so that a cold worker does not recompile, and fused projections (measured, not applied: see below).

``prepare_dit`` is what the pipeline calls after loading; what it applies is decided in ``device.py``
(``resolve_compile``: ``COMPILE=auto|on|off``; CPU threads) and ``float8.py`` (``FP8``: converted before the compile,
so the compiled blocks are the float8 ones). The compile is regional: each of the identical decoder
blocks (all the matrix work) is compiled with ``fullgraph=True`` and dynamic shapes, so one compiled graph serves
every block, both models (95 s and full), every batch size and every song length. Static shapes per length bucket
would recompile for every song length the full model generates (its frames follow the song), and a padded bucket
would change the result (the attention has no mask). On an H200 in bf16 it makes a guided step 1.31-1.45x faster
and lowers peak memory; compiling takes about 13 s there on the first song. On a CPU (AVX512-BF16, 2 cores, full
size) the C++ kernels inductor builds fuse the norms, rotations and gates around oneDNN's matrix products: sampling
1.05x faster in bf16, 1.26x in fp32, after a 33-90 s compile (benchmarks/README.md).

``fuse_projections`` (one matrix product for query/key/value, one for the MLP's gate/up) is exact but did not help
on the H200: eager 3-5% slower, compiled unchanged. ``prepare_dit`` does not fuse; the benchmark keeps measuring it.

The warm-up command, for an image build on a machine with the fleet's GPU type (compiled CUDA kernels are specific
to the GPU, the CUDA and Triton versions and torch) or, for a CPU fleet, with ``--device cpu`` on the fleet's CPU type
(inductor's C++ kernels are built for the instruction set it finds: AVX-512, AMX, AVX2)::

    python -m inference_container.diffrhythm.compiled --out /opt/diffrhythm/compile-cache.bin [--weights DIR]

writes torch's portable compile cache ("mega-cache"); a worker with ``COMPILE_CACHE`` naming that file loads it
before compiling, so its first song traces the blocks (seconds) but builds no kernels. A build without a GPU cannot
pre-compile CUDA kernels: there each worker compiles once as it starts (benchmarks/README.md says how long). Never
give a worker a cache built on another CPU type: inductor's cache keys do not always tell instruction sets apart (a
process told ``ATEN_CPU_CAPABILITY=avx2`` on an AVX-512 machine crashed in kernels an AVX-512 process had cached).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from inference_container.diffrhythm.bundle.reader import Bundle
from inference_container.diffrhythm.config import LATENT_CHANNELS, STYLE_DIM, DiTConfig
from inference_container.diffrhythm.device import (
    configure_threads,
    resolve_compile,
    resolve_device,
    resolve_precision,
    torch_dtype,
)
from inference_container.diffrhythm.float8 import float8_where_supported
from inference_container.diffrhythm.model import DiT
from inference_container.diffrhythm.model.layers import DecoderBlock
from shared.timeline import VARIANTS

logger = logging.getLogger(__name__)


def prepare_dit(model: DiT, device: str, compile: str = "auto", cache: str | Path | None = None,
                fp8: bool = False) -> DiT:
    """A loaded ``model`` made ready for ``device``: CPU threads set; with ``fp8``, its block projections in float8
    where the device and a probe step allow (``float8.float8_where_supported``: a copy); then the decoder blocks
    compiled, in place, where ``resolve_compile(device, compile, parameters)`` says so (``auto``: on CUDA, and on a CPU
    at full size), after loading the compile cache file ``cache`` (the worker's ``COMPILE_CACHE``) if it exists. The
    first forward compiles (or takes the kernels from the caches)."""
    configure_threads(device)
    if fp8:
        model = float8_where_supported(model, device)
    if resolve_compile(device, compile, sum(p.numel() for p in model.parameters())):
        load_cache(cache)
        compile_dit(model)
    return model


def fuse_projections(model: DiT) -> DiT:
    """Each block's query/key/value projections as one matrix product, and its MLP's gate/up as one (in place; after
    the published weights are loaded: the fused model's state dict no longer has the published keys). Exact in fp32;
    no faster on an H200 (see the module's docstring), so nothing applies it but the benchmark."""
    for block in _blocks(model):
        block.self_attn.fuse()
        block.mlp.fuse()
    return model


def compile_dit(model: DiT, mode: str | None = None, dynamic: bool | None = True) -> DiT:
    """Compile every decoder block in place (``nn.Module.compile``: parameter names and the state dict unchanged).
    ``mode`` is torch.compile's (``None`` = default, measured best here); ``dynamic=True`` gives one graph for every
    batch size and song length."""
    if dynamic:
        # No "duck sizing" (sizes that happen to be equal sharing one symbol): with it, the 95 s model's 2048
        # frames would be tied to the model width (2048) and specialised, and every other length would recompile.
        import torch.fx.experimental._config as fx_config

        fx_config.use_duck_shape = False
    for block in _blocks(model):
        block.compile(fullgraph=True, dynamic=dynamic, mode=mode)
    return model


def is_compiled(model: DiT) -> bool:
    """Whether ``compile_dit`` was applied."""
    return all(block._compiled_call_impl is not None for block in _blocks(model))


def _blocks(model: DiT) -> list[DecoderBlock]:
    return [block for block in model.transformer_blocks if isinstance(block, DecoderBlock)]


def load_cache(path: str | Path | None) -> bool:
    """Load a compile cache written by ``save_cache`` (before compiling); ``False`` when there is none to load."""
    if path is None or not Path(path).is_file():
        return False
    info = torch.compiler.load_cache_artifacts(Path(path).read_bytes())
    logger.info("compile cache loaded", extra={"path": str(path), "artifacts": str(info)})
    return True


def save_cache(path: str | Path) -> int:
    """Write what this process compiled so far as one file (``torch.compiler.save_cache_artifacts``); its size in
    bytes (0: nothing compiled, nothing written)."""
    saved = torch.compiler.save_cache_artifacts()
    if saved is None:
        return 0
    data, _ = saved
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data)
    return len(data)


CPU_WARM_UP_FRAMES = 128  # one graph serves every length: a CPU compiles on a short song (a full window takes minutes)


def warm_up_frames(model: DiT) -> int:
    """The song length ``warm_up`` compiles at after loading: the model's window on a GPU (as it will run), a short
    ``CPU_WARM_UP_FRAMES`` on a CPU, where a guided forward at the full model's 6,144 frames takes minutes."""
    on_gpu = next(model.parameters()).device.type == "cuda"
    return model.config.max_frames if on_gpu else min(CPU_WARM_UP_FRAMES, model.config.max_frames)


def warm_up(model: DiT, rows: int, frames: int) -> float:
    """One guided forward (``2 * rows`` rows: both branches) of ``frames`` frames with zero inputs: compiles (or
    loads from the cache) what a song of that shape runs. Returns its seconds."""
    device = next(model.parameters()).device
    start = time.perf_counter()
    with torch.inference_mode():
        batch = 2 * rows
        zeros = torch.zeros(batch, frames, LATENT_CHANNELS, device=device, dtype=model.dtype)
        duration = torch.ones(batch, device=device) if model.duration_time_embed is not None else None
        prepared = model.prepare(torch.zeros(batch, frames, dtype=torch.long, device=device),
                                 torch.zeros(batch, device=device), duration)
        style = torch.zeros(batch, STYLE_DIM, device=device, dtype=model.dtype)
        model(zeros, zeros, style, torch.tensor(0.5, device=device), prepared)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def row_bytes(model: DiT) -> int:
    """The GPU memory one row (song) of a guided forward at the model's window takes at its peak, above what was
    allocated before (``warm_up``'s forward, measured; ``device.rows_that_fit`` turns it into rows per call)."""
    device = next(model.parameters()).device
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    warm_up(model, 1, model.config.max_frames)
    return torch.cuda.max_memory_allocated(device) - before


def warm(out: Path, device: str, precision: str, configs: Sequence[DiTConfig], rows: Sequence[int],
         cache: Path | None = None) -> int:
    """Compile the blocks for each configuration at its window and ``rows`` songs per batch (after loading the cache
    file ``cache``, if given), then save the cache to ``out``; the cache's size in bytes. Weights are random: compiled
    code depends on shapes and dtypes only."""
    dtype = torch_dtype(resolve_precision(device, precision))
    for config in configs:
        with torch.device(device):
            model = DiT(config).to(dtype).eval().requires_grad_(False)
        prepare_dit(model, device, compile="on", cache=cache)
        frames = warm_up_frames(model)
        for count in rows:
            seconds = warm_up(model, count, frames)
            print(f"{config.variant.name}: {count} row(s) x {frames} frames, {dtype}: {seconds:.1f} s", flush=True)
    size = save_cache(out)
    inductor = torch._dynamo.utils.counters["inductor"]
    print(f"compile cache: {size / 2**20:.1f} MiB -> {out} (graphs found in the caches: "
          f"{inductor['fxgraph_cache_hit']}, built: {inductor['fxgraph_cache_miss']})", flush=True)
    return size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference_container.diffrhythm.compiled",
                                     description="Compile the DiT's blocks and write the compile cache a worker "
                                                 "image carries (run on the fleet's GPU type).")
    parser.add_argument("--out", type=Path, required=True, help="the cache file (the worker's COMPILE_CACHE)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", help="the worker's DTYPE")
    parser.add_argument("--weights", type=Path, help="a weights bundle: its DiT configuration (default: published)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="models to compile for (95s,full)")
    parser.add_argument("--rows", default="1", help="songs per batch to warm (comma-separated)")
    parser.add_argument("--cache", type=Path, help="a cache file to load first (to check it: nothing is built)")
    args = parser.parse_args(argv)
    configs = []
    for name in (v for v in args.variants.split(",") if v):
        max_frames = VARIANTS[name].max_frames
        if args.weights is None:
            configs.append(DiTConfig(max_frames=max_frames))
        else:
            configs.append(DiTConfig.from_json(Bundle(args.weights).dit_config, max_frames=max_frames))
    warm(args.out, resolve_device(args.device), args.dtype, configs, [int(r) for r in args.rows.split(",") if r],
         args.cache)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
