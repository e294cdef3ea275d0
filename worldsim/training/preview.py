"""What a dynamics run shows while it trains: open-loop PSNR against copy-last on validation windows, and samples."""

from __future__ import annotations

import logging

import numpy as np
import torch

from worldsim.data.windows import eval_windows, gather
from worldsim.errors import DatasetError
from worldsim.training.objective import flow_matching_loss
from worldsim.training.run import Run
from worldsim.world_model import WorldModel

log = logging.getLogger(__name__)


def _eval_streams(run: Run, n: int, horizon: int) -> tuple[np.ndarray, ...] | None:
    """Context frames/actions and ground truth of ``n`` validation windows (fixed seed), as ``worldsim eval``."""
    ctx = run.ema.cfg.context_len
    try:
        windows = eval_windows(run.ds, ctx, horizon, n, seed=1234)
    except DatasetError:
        return None
    data = gather(run.ds, windows, ctx, horizon, run.ema.cfg.null_action)
    frames, acts = data["frames"], data["actions"]
    return frames[:, :ctx], acts[:, :ctx], frames[:, ctx:], acts[:, ctx:]


def evaluate(run: Run) -> dict[str, float]:
    """Open-loop PSNR of the EMA model vs copy-last-frame on a few validation windows, plus val loss."""
    from worldsim.metrics import band_means, psnr
    from worldsim.sampling.open_loop import open_loop

    result: dict[str, float] = {}
    batch = run.val.sample(np.random.default_rng(99), run.cfg.batch_size).to(run.device)
    with torch.no_grad():
        out = flow_matching_loss(run.ema, batch.latents, batch.actions, batch.rewards, batch.terminated,
                                 batch.has_action, run.cfg.objective, torch.Generator().manual_seed(7))  # fmt: skip
    result["eval/val_loss"] = float(out["fm"])
    streams = _eval_streams(run, run.cfg.eval_episodes, run.cfg.eval_horizon)
    if streams is None:
        return result
    ctx_f, ctx_a, real, acts = streams
    world = WorldModel(run.codec, run.ema, run.ds.schema)
    gen = open_loop(world, ctx_f, ctx_a, acts, run.sampling())
    model_bands = band_means(psnr(gen["frames"], real))
    copy_bands = band_means(psnr(np.broadcast_to(ctx_f[:, -1:], real.shape), real))
    for name, value in model_bands.items():
        result[f"eval/psnr_{name}"] = value
        result[f"eval/copy_last_psnr_{name}"] = copy_bands[name]
    log.info("step %d: %s", run.step, ", ".join(f"{k.split('/')[1]}={v:.3f}" for k, v in result.items()))
    return result


def write_samples(run: Run) -> None:
    """mp4 and PNG contact sheet: ground truth above, open-loop generation below, per validation window."""
    from worldsim.sampling.open_loop import open_loop
    from worldsim.video import contact_sheet, write_mp4, write_png

    streams = _eval_streams(run, 2, run.cfg.eval_horizon)
    if streams is None:
        return
    ctx_f, ctx_a, real, acts = streams
    world = WorldModel(run.codec, run.ema, run.ds.schema)
    gen = open_loop(world, ctx_f, ctx_a, acts, run.sampling(), seed=run.step)  # fmt: skip
    rows, videos = [], []
    for i in range(len(real)):
        rows += [real[i], gen["frames"][i]]
        videos.append(np.concatenate([real[i], gen["frames"][i]], axis=2))  # side by side: real | model
    stem = run.out / "samples" / f"step-{run.step:07d}"
    write_mp4(stem.with_suffix(".mp4"), np.concatenate(videos, axis=1), fps=float(run.ds.meta.get("fps", 15)))
    write_png(stem.with_suffix(".png"), contact_sheet(rows, every=max(1, run.cfg.eval_horizon // 16)))
