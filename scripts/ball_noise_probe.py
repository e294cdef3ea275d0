"""Where does a Breakout world decide the ball's next place? One denoising jump from each noise level.

For windows of real frames (clean context), the next frame's latent is noised to level ``t`` and the world's
dynamics makes one jump to the clean frame (``x0 = x_t - t * v``, its prediction at that level). The frame decoded
from that latent alone (no refiner) is read by the Breakout probe: how often a ball is drawn where the real frame
has one, and how far it is from the real ball and from where the ball was in the last context frame.

At ``t = 1`` nothing of the next frame is left, so only the context can say where the ball went: that row measures
whether the world has learnt the ball's motion. At small ``t`` the noisy frame itself shows the ball. A sampler
settles where the ball is in its first (high-noise) steps, so a world that is right only at small ``t`` draws the
ball in the wrong place however many steps it takes.

Usage: python scripts/ball_noise_probe.py WORLD DATA [--windows 96] [--levels 1 0.7 0.5 0.3 0.1] [--out JSON]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from worldsim.data.dataset import Dataset
from worldsim.data.windows import eval_windows, gather
from worldsim.errors import Error
from worldsim.io import atomic_write_json
from worldsim.probes import breakout
from worldsim.world_model import WorldModel


def probe(world: WorldModel, ds: Dataset, windows: int, levels: list[float], seed: int = 0) -> list[dict]:
    """One row per noise level: ball drawn where real has one, median distances, share within 2 px."""
    dyn = world.dynamics.eval()
    ctx = dyn.cfg.context_frames - 1
    data = gather(ds, eval_windows(ds, ctx, 1, windows, 1), ctx, 1, dyn.cfg.null_action)
    frames = np.asarray(data["frames"])  # (B, F, H, W, 3): context then the next frame
    actions = torch.as_tensor(np.asarray(data["actions"])).long()
    x0 = world.encode(frames)  # encode and decode run without autograd already
    real, last = breakout.ball(frames[:, -1]), breakout.ball(frames[:, -2])
    g = torch.Generator().manual_seed(seed)
    rows = []
    for level in levels:
        eps = torch.randn(x0.shape[0], *x0.shape[2:], generator=g).to(x0.device)
        xt, t = x0.clone(), torch.zeros(x0.shape[:2], device=x0.device)
        xt[:, -1], t[:, -1] = (1 - level) * x0[:, -1] + level * eps, level
        with torch.no_grad():
            jump = xt[:, -1] - level * dyn(xt, t, actions)["v"][:, -1]
        drawn = breakout.ball(world.decode(jump).cpu().numpy())
        both = drawn["present"] & real["present"] & last["present"]
        to_real = np.hypot(drawn["y"] - real["y"], drawn["x"] - real["x"])[both]
        to_last = np.hypot(drawn["y"] - last["y"], drawn["x"] - last["x"])[both]
        rows.append({
            "t": level,
            "ball_drawn": float(drawn["present"][real["present"]].mean()) if real["present"].any() else None,
            "pairs": int(both.sum()),
            "error_px_median": float(np.median(to_real)) if both.any() else None,
            "within_2px": float((to_real <= 2).mean()) if both.any() else None,
            "to_last_context_px_median": float(np.median(to_last)) if both.any() else None,
            "nearer_last_context": float((to_last < to_real).mean()) if both.any() else None,
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("world", help="Breakout world file (world.safetensors)")
    p.add_argument("data", help="dataset of real episodes (its validation episodes are used)")
    p.add_argument("--windows", type=int, default=96, help="windows (one next frame each)")
    p.add_argument("--levels", type=float, nargs="+", default=[1.0, 0.7, 0.5, 0.3, 0.1], help="noise levels")
    p.add_argument("--out", help="write the rows as JSON here")
    args = p.parse_args(argv)
    try:
        world, ds = WorldModel.load(args.world), Dataset(args.data)
    except Error as e:
        raise SystemExit(f"ball_noise_probe: {e}") from None
    for path, name in ((args.world, world.schema.world), (args.data, ds.schema.world)):
        if name != "breakout":
            raise SystemExit(f"ball_noise_probe: {path} is a {name!r} world; this probe reads Breakout's ball")
    rows = probe(world, ds, args.windows, args.levels)
    for r in rows:
        print(json.dumps(r))
    if args.out:
        atomic_write_json(args.out, {"world": args.world, "data": args.data, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
