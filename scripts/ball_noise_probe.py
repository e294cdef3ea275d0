"""Where does a Breakout world decide the ball's next place? One denoising jump from each noise level.

For windows of real frames (clean context), the next frame's latent is noised to level ``t`` and the world's
dynamics makes one jump to the clean frame (``x0 = x_t - t * v``, its prediction at that level). The frame decoded
from that latent alone (no refiner) is read by the Breakout probe: how often a ball is drawn where the real frame
has one, and how far it is from the real ball and from where the ball was in the last context frame.

At ``t = 1`` nothing of the next frame is left, so only the context can say where the ball went: that row measures
whether the world has learnt the ball's motion. At small ``t`` the noisy frame itself shows the ball. A sampler
settles where the ball is in its first (high-noise) steps, so a world that is right only at small ``t`` draws the
ball in the wrong place however many steps it takes.

``--at lost`` takes instead the windows whose next frame is the first of a lost ball (a ball in the last context
frame, none in the next five real frames): can the world let the ball go when the clean context shows it leaving?
``--at idle`` takes the windows where no ball has been in play for ``IDLE_FOR`` frames and nothing was fired for the
last ``context`` actions (the real game serves only on fire): does the world serve a ball by itself? ``--fire``
replaces the next frame's action by fire there (it should serve). ``ghost_drawn`` is the share of next frames without
a real ball where the world draws one.

Usage: python scripts/ball_noise_probe.py WORLD DATA [--windows 96] [--levels 1 0.7 0.5 0.3 0.1]
    [--at any|lost|idle] [--fire] [--out JSON]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from worldsim.data.dataset import Dataset
from worldsim.data.windows import eval_windows, gather
from worldsim.errors import DatasetError, Error
from worldsim.io import atomic_write_json
from worldsim.probes import breakout
from worldsim.world_model import WorldModel

#: Real frames without a ball after a loss's first one, so a ball that is only hidden for a frame is not a loss.
LOST_FOR = 5


def lost_windows(ds: Dataset, context: int, n: int) -> list[tuple[int, int]]:
    """``(episode, start)`` of up to ``n`` validation windows whose next frame is the first of a lost ball."""
    out = []
    for e in ds.split("val"):
        present = breakout.ball(np.asarray(ds.episode(e).frames))["present"]
        for t in range(max(context, 1), len(present) - LOST_FOR + 1):
            if present[t - 1] and not present[t : t + LOST_FOR].any():
                out.append((e, t - context))
        if len(out) >= n:
            break
    return out[:n]


#: Frames without a ball (the next one included) before a window counts as idle.
IDLE_FOR = 12


def idle_windows(ds: Dataset, context: int, n: int, fire: int, seed: int = 0) -> list[tuple[int, int]]:
    """Up to ``n`` validation windows with no ball in play for ``IDLE_FOR`` frames and no action id ``fire``."""
    out = []
    for e in ds.split("val"):
        ep = ds.episode(e)
        present, actions = breakout.ball(np.asarray(ep.frames))["present"], np.asarray(ep.actions)
        # frame t comes from actions[t - 1]: the window's actions are actions[t - context - 1 .. t - 1]
        for t in range(max(IDLE_FOR, context + 1), len(present)):
            if not present[t - IDLE_FOR + 1 : t + 1].any() and not (actions[t - context - 1 : t] == fire).any():
                out.append((e, t - context))
    rng = np.random.default_rng(seed)
    return [out[i] for i in rng.permutation(len(out))[:n]]


def probe(
    world: WorldModel,
    ds: Dataset,
    windows: int,
    levels: list[float],
    seed: int = 0,
    at: str = "any",
    fire: bool = False,
) -> list[dict]:
    """One row per noise level: ball drawn where real has one (and where it has none), distances, within 2 px."""
    dyn = world.dynamics.eval()
    ctx = dyn.cfg.context_frames - 1
    fire_id = [a.name for a in world.schema.actions].index("fire") if at == "idle" or fire else None
    if at == "lost":
        picks = lost_windows(ds, ctx, windows)
    elif at == "idle":
        picks = idle_windows(ds, ctx, windows, fire_id)
    else:
        picks = eval_windows(ds, ctx, 1, windows, 1)
    if not picks:
        what = "loses the ball" if at == "lost" else "stands idle without a ball"
        raise DatasetError(f"{ds.root}: no validation episode {what}; use --at any or another dataset")
    data = gather(ds, picks, ctx, 1, dyn.cfg.null_action)
    frames = np.asarray(data["frames"])  # (B, F, H, W, 3): context then the next frame
    actions = torch.as_tensor(np.asarray(data["actions"])).long()
    if fire:
        actions[:, -1] = fire_id
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
            "windows": len(picks),
            "ball_drawn": float(drawn["present"][real["present"]].mean()) if real["present"].any() else None,
            "ghost_drawn": float(drawn["present"][~real["present"]].mean()) if (~real["present"]).any() else None,
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
    p.add_argument(
        "--at", choices=("any", "lost", "idle"), default="any", help="any windows, where the ball is lost, or idle ones"
    )
    p.add_argument("--fire", action="store_true", help="the next frame's action becomes fire")
    p.add_argument("--out", help="write the rows as JSON here")
    args = p.parse_args(argv)
    try:
        world, ds = WorldModel.load(args.world), Dataset(args.data)
    except Error as e:
        raise SystemExit(f"ball_noise_probe: {e}") from None
    for path, name in ((args.world, world.schema.world), (args.data, ds.schema.world)):
        if name != "breakout":
            raise SystemExit(f"ball_noise_probe: {path} is a {name!r} world; this probe reads Breakout's ball")
    try:
        rows = probe(world, ds, args.windows, args.levels, at=args.at, fire=args.fire)
    except Error as e:
        raise SystemExit(f"ball_noise_probe: {e}") from None
    for r in rows:
        print(json.dumps(r))
    if args.out:
        atomic_write_json(
            args.out, {"world": args.world, "data": args.data, "at": args.at, "fire": args.fire, "rows": rows}
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
