"""``worldsim bench``: frames per second and latency of generation, against the naive path in the same run.

For every combination of backend x denoising steps x speculative lookahead x batch, a stream of actions held
for random durations (as players hold keys) is played through :meth:`Simulator.step` with the world's sampling
recipe (guidance, context noise, pixel hold), the call play and the Gym env make; each frame is timed from the
action to the shown RGB frame. The naive path (32 steps, whole window recomputed every step, eager) is measured
in the same process, so the speed-up ratios survive noisy machines.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any

import numpy as np
import torch

from worldsim.actions import Action, ActionSchema, action_stream
from worldsim.codec.autoencoder import CodecConfig, FrameCodec
from worldsim.config import to_dict
from worldsim.device import resolve_device, synchronize
from worldsim.model.dynamics import DynamicsTransformer, preset
from worldsim.runtime import cpu_info, fast_bf16
from worldsim.sampling.backends import check_backend, make_backend
from worldsim.sampling.config import SamplingConfig, resolve_sampling
from worldsim.sampling.open_loop import ReferenceStream
from worldsim.sampling.simulator import Simulator
from worldsim.world_model import WorldModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchConfig:
    """What to measure.

    Attributes:
        world: Shipped world name or world file; empty = random weights of ``preset`` (speed does not depend on
            the weights).
        preset: Model size when no world is given.
        num_actions: Actions of the random-weight model.
        backends: Backends to try (unavailable ones are reported and skipped).
        steps: Denoising step counts.
        lookahead: Speculative lookahead values (0 = off).
        batch: Stream counts.
        frames: Timed frames per configuration.
        warmup: Untimed frames first (compilation and allocation happen here).
        naive_frames: Timed frames of the naive path.
        naive_steps: Steps of the naive path (the teacher's).
        hold_mean: Mean frames an action is held in the benchmark stream.
        device: ``auto``, ``cpu``, ``cuda``.
        seed: Seed of weights, actions and noise.
        sampling: Overrides of the world's sampling recipe for the timed rows (``steps`` comes from ``steps``);
            e.g. ``{"guidance": {"scale": 1}}`` times the unguided step. The naive path runs the same recipe at
            ``naive_steps``.
        precision: ``auto``, ``fp32`` or ``bf16`` (see :mod:`worldsim.runtime`).
        load: Busy processes kept running beside the benchmark (a laptop with other work on it; 1 keeps one of
            two cores busy).
    """

    world: str = ""
    preset: str = "cpu"
    num_actions: int = 7
    backends: tuple[str, ...] = ("eager", "onnx", "compile")
    steps: tuple[int, ...] = (1, 2, 4)
    lookahead: tuple[int, ...] = (0, 2)
    batch: tuple[int, ...] = (1,)
    frames: int = 64
    warmup: int = 4
    naive_frames: int = 24
    naive_steps: int = 32
    hold_mean: int = 8
    device: str = "auto"
    seed: int = 0
    sampling: dict[str, Any] = field(default_factory=dict)
    precision: str = "auto"
    load: int = 0


def machine() -> dict[str, Any]:
    """The CPU (model name, AVX-512, its bf16 instructions), the torch threads and the device name of this run."""
    cpu = cpu_info()
    return {
        "cpu": cpu["model"] or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "avx512": cpu["avx512"],
        "avx512_bf16": cpu["avx512_bf16"],
        "amx_bf16": cpu["amx_bf16"],
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 1024, seconds: float = 0.3) -> float:
    """GFLOP/s of an ``n x n`` matmul in ``dtype`` with the current threads: the ceiling the model is held against."""
    a, b = torch.randn(n, n, device=device).to(dtype), torch.randn(n, n, device=device).to(dtype)
    (a @ b).sum().item()  # first call: kernel selection, allocation
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        c = a @ b
        reps += 1
    float(c[0, 0])
    synchronize(device)
    return round(2 * n**3 * reps / (time.perf_counter() - t0) / 1e9, 1)


def frame_flops(world: WorldModel, recipe: SamplingConfig, seed: int = 0) -> dict[str, float]:
    """GFLOP of one generated frame (one stream, eager), split into the dynamics and the decode.

    The dynamics part holds every denoising pass and the commit; torch's FLOP counter counts matmuls and
    convolutions (element-wise work is not counted).
    """
    from torch.utils.flop_counter import FlopCounterMode

    sim = Simulator(world, 1, recipe, seed=seed)
    h, w = world.resolution
    sim.reset(np.zeros((1, world.dynamics.cfg.context_len, h, w, 3), np.uint8))
    with torch.no_grad():
        sim.step(0)
        with FlopCounterMode(display=False) as model:
            sim.state, out = sim.sampler.step(sim.state, torch.ones(1, dtype=torch.long, device=world.device))
        with FlopCounterMode(display=False) as decode:
            sim.display.show(out["latent"])
    return {"model": model.get_total_flops() / 1e9, "decode": decode.get_total_flops() / 1e9}


@contextmanager
def busy_cores(n: int) -> Iterator[None]:
    """Keep ``n`` other processes spinning for the duration (``--load``)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def bench_world(cfg: BenchConfig, device: torch.device) -> tuple[WorldModel, str]:
    """The world benchmarked (a shipped or given world, or random weights of a preset) and its description."""
    if cfg.world:
        from worldsim.assets import resolve_world

        return WorldModel.load(resolve_world(cfg.world).world, device), cfg.world
    torch.manual_seed(cfg.seed)
    overrides = {} if cfg.preset == "nfd-310m" else {"latent_channels": 8, "latent_height": 8, "latent_width": 8}
    dyn = DynamicsTransformer(preset(cfg.preset, num_actions=cfg.num_actions, **overrides))
    with torch.no_grad():  # non-zero weights so no kernel sees trivial zeros
        for p in dyn.parameters():
            p.add_(0.02 * torch.randn_like(p))
    c = dyn.cfg
    ds = 16 if cfg.preset == "nfd-310m" else 8  # the paper: 384x224 frames at /16
    stages = int(np.log2(ds))
    codec = FrameCodec(
        CodecConfig(
            height=c.latent_height * ds,
            width=c.latent_width * ds,
            latent_channels=c.latent_channels,
            downsample=ds,
            channels=(32, 64, 128, 128)[:stages],
            decoder_channels=(24, 48, 96, 96)[:stages],
            decoder_blocks=(0, 1, 1, 1)[:stages],
            encoder_blocks=(0, 1, 1, 1)[:stages],
        )  # fmt: skip
    )
    schema = ActionSchema("random", 1, tuple(Action(f"a{i}") for i in range(cfg.num_actions)))
    return WorldModel(codec, dyn, schema).to(device).eval(), f"random {cfg.preset}"


def _time_stream(
    stream: Simulator | ReferenceStream, context: np.ndarray, actions: np.ndarray, warmup: int
) -> dict[str, Any]:
    """Reset ``stream`` from ``context`` frames, then time ``stream.step`` (action in, shown frame out) per frame."""
    b = len(context)
    device = stream.world.device
    t0 = time.perf_counter()
    stream.reset(context, np.zeros(context.shape[:2], np.int64))
    lat, stages = [], []
    warm = 0.0
    for i, a in enumerate(actions):
        start = time.perf_counter()
        out = stream.step(np.full(b, int(a)))
        synchronize(device)
        lat.append(time.perf_counter() - start)
        if isinstance(stream, Simulator):
            stages.append((out.model_ms, out.decode_ms))
        if i + 1 == warmup:
            warm = time.perf_counter() - t0
    timed = np.array(lat[warmup:])
    res = {
        "warmup_s": round(warm, 3),
        "fps": round(b * len(timed) / timed.sum(), 2),
        "ms_p50": round(1000 * float(np.percentile(timed, 50)), 2),
        "ms_p99": round(1000 * float(np.percentile(timed, 99)), 2),
    }
    if stages:
        model_ms, decode_ms = np.mean(stages[warmup:], axis=0)
        res["model_ms"], res["decode_ms"] = round(float(model_ms), 2), round(float(decode_ms), 2)
    if isinstance(stream, Simulator) and stream.lookahead:
        res["acceptance"] = round(stream.acceptance_rate, 3)
    return res


@torch.no_grad()
def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Measure every configuration; returns rows plus the naive reference, FLOPs, matmul peaks and machine info."""
    with busy_cores(cfg.load):
        return _run(cfg)


def _run(cfg: BenchConfig) -> dict[str, Any]:
    device = resolve_device(cfg.device)
    world, what = bench_world(cfg, device)
    recipe = resolve_sampling(world.sampling, cfg.sampling, where="bench sampling")
    c = world.dynamics.cfg
    h, w = world.resolution
    rng = np.random.default_rng(cfg.seed)
    info = machine()
    peaks = {"fp32": matmul_peak(torch.float32, device)}
    if fast_bf16(device):
        peaks["bf16"] = matmul_peak(torch.bfloat16, device)
    flops = {s: frame_flops(world, replace(recipe, steps=s), cfg.seed) for s in cfg.steps}
    rows: list[dict[str, Any]] = []
    naive: dict[int, dict[str, Any]] = {}
    for b in cfg.batch:
        context = rng.integers(0, 256, (b, c.context_len, h, w, 3), dtype=np.uint8)
        acts = action_stream(cfg.naive_frames + 2, len(world.schema), cfg.hold_mean, cfg.seed)
        reference = ReferenceStream(world, replace(recipe, steps=cfg.naive_steps), cfg.seed)
        naive[b] = _time_stream(reference, context, acts, 2)
        log.info("naive (batch %d, %d steps, full window, eager): %.2f FPS", b, cfg.naive_steps, naive[b]["fps"])
    for backend in cfg.backends:
        reason = check_backend(backend, device)
        if reason:
            rows.append({"backend": backend, "skipped": reason})
            continue
        runner = make_backend(world.dynamics, backend)  # one per backend: its compiled shapes serve every row
        for steps, spec, b in product(cfg.steps, cfg.lookahead, cfg.batch):
            context = rng.integers(0, 256, (b, c.context_len, h, w, 3), dtype=np.uint8)
            acts = action_stream(cfg.frames + cfg.warmup, len(world.schema), cfg.hold_mean, cfg.seed)
            sim = Simulator(world, b, replace(recipe, steps=steps), spec, runner, cfg.seed, precision=cfg.precision)
            res = _time_stream(sim, context, acts, cfg.warmup)
            res["speedup_vs_naive"] = round(res["fps"] / naive[b]["fps"], 1)
            res["gflops"] = round(res["fps"] * sum(flops[steps].values()), 1)  # achieved (speculation included)
            res["precision"] = "bf16" if sim.bf16 else "fp32"
            rows.append({"backend": backend, "steps": steps, "lookahead": spec, "batch": b, **res})
            log.info("%s", rows[-1])
    return {
        "model": what,
        "params_m": round(world.dynamics.num_params() / 1e6, 2),
        "tokens_per_frame": c.tokens_per_frame,
        "context_frames": c.context_frames,
        "resolution": [h, w],
        "device": torch.cuda.get_device_name()
        if device.type == "cuda"
        else f"CPU ({info['cpu']}, {torch.get_num_threads()} threads)",
        "machine": info,
        "load": cfg.load,
        "matmul_peak_gflops": peaks,
        "gflop_per_frame": {str(k): {n: round(v, 4) for n, v in f.items()} for k, f in flops.items()},
        "naive": {str(k): v for k, v in naive.items()},
        "naive_path": f"{cfg.naive_steps} steps, whole window recomputed every step, eager",
        "sampling": to_dict(recipe),
        "guidance": recipe.guidance.scale,
        "rows": rows,
    }


def format_rows(report: dict[str, Any]) -> str:
    """Terminal table of a benchmark report."""
    peaks = report.get("matmul_peak_gflops", {})
    flops = report.get("gflop_per_frame", {})
    lines = [
        f"{report['model']} ({report['params_m']}M params, {report['tokens_per_frame']} tokens/frame, "
        f"{report['resolution'][0]}x{report['resolution'][1]}) on {report['device']}"
        + (f", {report['load']} busy process(es) beside it" if report.get("load") else ""),
        "matmul peak (1024^2, these threads): " + ", ".join(f"{k} {v:g} GFLOP/s" for k, v in peaks.items()),
        "GFLOP per frame (dynamics + decode): "
        + ", ".join(f"{k} steps {v['model']:.3f} + {v['decode']:.3f}" for k, v in flops.items()),
        f"naive: {report['naive_path']}: "
        + ", ".join(f"batch {k}: {v['fps']} FPS" for k, v in report["naive"].items())
        + ("" if report.get("guidance", 1.0) == 1.0 else f"; every row uses action guidance {report['guidance']:g}"),
        f"{'backend':<9}{'steps':>6}{'spec':>5}{'batch':>6}{'FPS':>9}{'p50 ms':>8}{'p99 ms':>8}{'model':>7}"
        f"{'decode':>7}{'accept':>7}{'GFLOP/s':>8}{'vs naive':>9}{'warmup s':>9}",
    ]
    for r in report["rows"]:
        if "skipped" in r:
            lines.append(f"{r['backend']:<9} skipped: {r['skipped']}")
            continue
        lines.append(
            f"{r['backend']:<9}{r['steps']:>6}{r['lookahead']:>5}{r['batch']:>6}{r['fps']:>9.1f}{r['ms_p50']:>8.1f}"
            f"{r['ms_p99']:>8.1f}{r.get('model_ms', 0):>7.1f}{r.get('decode_ms', 0):>7.1f}{r.get('acceptance', ''):>7}"
            f"{r.get('gflops', 0):>8.1f}{r['speedup_vs_naive']:>8.1f}x{r['warmup_s']:>9.1f}"
        )
    if "play" in report:
        p = report["play"]
        lines.append(
            f"play loop (headless, as `make demo`; video frames included): {p['fps_mean']:.1f} FPS "
            f"(p50 {p['fps_p50']:.1f}, p99 frame {p['frame_ms_p99']:.1f} ms) over {p['frames']} frames"
        )
    return "\n".join(lines)
