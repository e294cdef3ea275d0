"""``worldsim bench``: frames per second and latency of generation, against the naive path in the same run.

For every combination of backend x denoising steps x speculative lookahead x batch, a stream of actions held
for random durations (as players hold keys) is played through the cached sampler; each frame is timed from
the action to the decoded RGB frame. The naive path (32 steps, whole window recomputed every step, eager) is
measured in the same process, so the speed-up ratios survive noisy machines.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import torch

from worldsim.codec.autoencoder import CodecConfig, FrameCodec
from worldsim.codec.display import HoldConfig, PixelHold
from worldsim.device import resolve_device, synchronize
from worldsim.model.dynamics import DynamicsTransformer, preset
from worldsim.sampling.backends import check_backend, make_backend
from worldsim.sampling.cached import CachedSampler
from worldsim.sampling.window import WindowSampler
from worldsim.world_model import SamplingDefaults, WorldModel

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
        guidance: Action guidance scale of the timed (not the naive) path; 0 = the world's default (1 for random
            weights). Guidance other than 1 runs every denoising pass twice.
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
    guidance: float = 0.0


def _models(cfg: BenchConfig, device: torch.device) -> tuple[DynamicsTransformer, FrameCodec, str, SamplingDefaults]:
    """Dynamics, codec, a description and the sampling defaults (guidance, pixel hold) of what is benchmarked."""
    if cfg.world:
        from worldsim.assets import resolve_world

        world = WorldModel.load(resolve_world(cfg.world).world, device)
        return world.dynamics, world.codec, cfg.world, world.sampling
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
    return dyn.to(device).eval(), codec.to(device).eval(), f"random {cfg.preset}", SamplingDefaults()


def action_stream(n: int, num_actions: int, hold_mean: int, seed: int) -> np.ndarray:
    """Actions held for random durations (uniform 1 .. 2*hold_mean - 1), like a player holding keys."""
    rng = np.random.default_rng(seed)
    out: list[int] = []
    while len(out) < n:
        out += [int(rng.integers(num_actions))] * int(rng.integers(1, 2 * hold_mean))
    return np.array(out[:n])


def _time_stream(
    sampler, codec, ctx, actions: np.ndarray, warmup: int, device, hold: HoldConfig | None = None
) -> dict[str, Any]:
    b = ctx.shape[0]
    t0 = time.perf_counter()
    state = sampler.start(ctx, torch.zeros(b, ctx.shape[1], dtype=torch.long, device=device))
    lat = []
    h, w = codec.config.height, codec.config.width
    shown = torch.zeros(b, 3, h, w, device=device)  # a refiner decodes each frame after the previous one
    held = hold is not None and hold.enabled
    if held:
        pixel_hold, reference, background = PixelHold(hold, h, w, device), shown.clone(), shown.clone()
    for i, a in enumerate(actions):
        start = time.perf_counter()
        state, out = sampler.step(state, torch.full((b,), int(a), device=device))
        decoded = codec.decode(out["latent"], shown)
        if held:
            decoded, reference = pixel_hold(decoded, shown, reference, background)
        shown = decoded
        synchronize(device)
        lat.append(time.perf_counter() - start)
        if i + 1 == warmup:
            warm = time.perf_counter() - t0
    timed = np.array(lat[warmup:])
    res = {
        "warmup_s": round(warm, 3),
        "fps": round(b * len(timed) / timed.sum(), 2),
        "ms_p50": round(1000 * float(np.percentile(timed, 50)), 2),
        "ms_p99": round(1000 * float(np.percentile(timed, 99)), 2),
    }
    if hasattr(sampler, "acceptance_rate") and sampler.lookahead:
        res["acceptance"] = round(sampler.acceptance_rate(state), 3)
    return res


@torch.no_grad()
def run_bench(cfg: BenchConfig) -> dict[str, Any]:
    """Measure every configuration; returns rows plus the naive reference and machine info."""
    device = resolve_device(cfg.device)
    dyn, codec, what, defaults = _models(cfg, device)
    guidance, hold = cfg.guidance or defaults.guidance, defaults.hold_config()
    c = dyn.cfg
    ctx_len = c.context_frames - 1
    rows: list[dict[str, Any]] = []
    naive: dict[int, dict[str, Any]] = {}
    for b in cfg.batch:
        ctx = torch.randn(b, ctx_len, c.latent_channels, c.latent_height, c.latent_width, device=device)
        acts = action_stream(cfg.naive_frames + 2, c.num_actions, cfg.hold_mean, cfg.seed)
        sampler = WindowSampler(dyn, cfg.naive_steps, generator=torch.Generator().manual_seed(cfg.seed))
        naive[b] = _time_stream(sampler, codec, ctx, acts, 2, device)
        log.info("naive (batch %d, %d steps, full window, eager): %.2f FPS", b, cfg.naive_steps, naive[b]["fps"])
    for backend in cfg.backends:
        reason = check_backend(backend, device)
        if reason:
            rows.append({"backend": backend, "skipped": reason})
            continue
        runner = make_backend(dyn, backend)
        for steps, spec, b in product(cfg.steps, cfg.lookahead, cfg.batch):
            ctx = torch.randn(b, ctx_len, c.latent_channels, c.latent_height, c.latent_width, device=device)
            acts = action_stream(cfg.frames + cfg.warmup, c.num_actions, cfg.hold_mean, cfg.seed)
            sampler = CachedSampler(
                runner,
                steps,
                generator=torch.Generator().manual_seed(cfg.seed),
                lookahead=spec,
                guidance=guidance,
                guidance_parallel=defaults.guidance_parallel,
            )
            res = _time_stream(sampler, codec, ctx, acts, cfg.warmup, device, hold)
            res["speedup_vs_naive"] = round(res["fps"] / naive[b]["fps"], 1)
            rows.append({"backend": backend, "steps": steps, "lookahead": spec, "batch": b, **res})
            log.info("%s", rows[-1])
    return {
        "model": what,
        "params_m": round(dyn.num_params() / 1e6, 2),
        "tokens_per_frame": c.tokens_per_frame,
        "context_frames": c.context_frames,
        "resolution": [codec.config.height, codec.config.width],
        "device": torch.cuda.get_device_name()
        if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "naive": {str(k): v for k, v in naive.items()},
        "naive_path": f"{cfg.naive_steps} steps, whole window recomputed every step, eager",
        "guidance": guidance,
        "rows": rows,
    }


def format_rows(report: dict[str, Any]) -> str:
    """Terminal table of a benchmark report."""
    lines = [
        f"{report['model']} ({report['params_m']}M params, {report['tokens_per_frame']} tokens/frame, "
        f"{report['resolution'][0]}x{report['resolution'][1]}) on {report['device']}",
        f"naive: {report['naive_path']}: "
        + ", ".join(f"batch {k}: {v['fps']} FPS" for k, v in report["naive"].items())
        + ("" if report.get("guidance", 1.0) == 1.0 else f"; timed rows use action guidance {report['guidance']:g}"),
        f"{'backend':<9}{'steps':>6}{'spec':>5}{'batch':>6}{'FPS':>9}{'p50 ms':>8}{'p99 ms':>8}{'accept':>7}"
        f"{'vs naive':>9}{'warmup s':>9}",
    ]
    for r in report["rows"]:
        if "skipped" in r:
            lines.append(f"{r['backend']:<9} skipped: {r['skipped']}")
            continue
        lines.append(
            f"{r['backend']:<9}{r['steps']:>6}{r['lookahead']:>5}{r['batch']:>6}{r['fps']:>9.1f}{r['ms_p50']:>8.1f}"
            f"{r['ms_p99']:>8.1f}{r.get('acceptance', ''):>7}{r['speedup_vs_naive']:>8.1f}x{r['warmup_s']:>9.1f}"
        )
    return "\n".join(lines)
