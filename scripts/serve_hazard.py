"""Does a Breakout world serve the ball by itself, and is it its own frames that make it? One start, two contexts.

From a fresh start with no ball in play, ``noop`` is held (the real game then never serves: only fire does):
- **real context**: the real game plays it; at every frame ``t`` the world draws frame ``t + 1`` from the last real
  frames, once per stream (different noise). The share of those frames with a visible ball is the world's
  per-frame serve hazard where its context is right;
- **own context**: the world plays the same start closed loop, one stream each; the frame where each first draws
  a visible ball.
If the closed loop serves about as often as the real-context hazard predicts (``1 - (1 - h) ** horizon`` of the
streams), drift in the world's own frames is not what makes it serve (docs/model.md, "Not drift").

``--by-action`` adds the real-context hazard when each action of the schema makes the next frame, without guidance,
and for the null action (guidance 0, what the world learns from action dropout: the data's mix of actions). In
the data, fire makes 164 of the 167 serves after 12 idle frames; a world that serves under noop about as often as
under the null action has not learned that noop is not fire.

    python scripts/serve_hazard.py WORLD [--start-seed 41006] [--horizon 40] [--streams 8] [--guidance 2] [--by-action]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from worldsim.errors import ConfigError, Error

#: Peak red excess of a ball a player sees (the probe's own threshold, 10, also reads the codec's faint smears).
VISIBLE = 30.0


def peaks(frames: np.ndarray) -> np.ndarray:
    """Peak red excess over Breakout's field of each frame ``(..., H, W, 3)`` -> ``(...)``."""
    from worldsim.probes import breakout

    return breakout.ball(frames)["peak"]


def from_real_context(sim, frames: np.ndarray, actions: np.ndarray, action: int, horizon: int) -> np.ndarray:
    """Frame ``t + 1`` drawn from the real frames before it, for ``t < horizon``: ``(streams, horizon, H, W, 3)``.

    ``frames`` ``(C + horizon, H, W, 3)`` are the start's context then the real frames under ``action``, ``actions``
    the action that led to each; every stream of ``sim`` draws the same windows with its own noise.
    """
    c, n = sim.context_frames, sim.num_streams
    drawn = []
    for t in range(horizon):
        sim.reset(np.stack([frames[t : t + c]] * n), np.stack([actions[t : t + c]] * n))
        drawn.append(sim.step([action] * n).frames)
    return np.stack(drawn, axis=1)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("world", help="Breakout world file (world.safetensors) or shipped world name")
    p.add_argument("--start-seed", type=int, default=41006, help="simulator seed of the start (41006: no ball in play)")
    p.add_argument("--horizon", type=int, default=40, help="frames noop is held")
    p.add_argument("--streams", type=int, default=8, help="draws per frame (real context) and closed-loop streams")
    p.add_argument("--steps", type=int, default=8, help="denoising steps per frame")
    p.add_argument("--guidance", type=float, default=2.0, help="action guidance scale")
    p.add_argument("--by-action", action="store_true", help="also the real-context hazard of every action and null")
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args(argv)

    import torch

    from worldsim.eval.branches import BranchConfig, make_starts, open_real
    from worldsim.eval.rank import run_model, run_real, suite
    from worldsim.io import atomic_write_json
    from worldsim.sampling.simulator import Simulator

    torch.set_num_threads(1)
    sampling = {"steps": args.steps, "guidance": {"scale": args.guidance}}
    probe_sim = Simulator.load(args.world, num_streams=1, device="cpu", backend="eager", sampling=sampling)
    if probe_sim.schema.world != "breakout":
        raise ConfigError(f"{args.world} is a {probe_sim.schema.world!r} world; this reading needs a Breakout world")
    noop = suite("breakout")["noop"]
    bcfg = BranchConfig(world=args.world, starts=1, seed=args.start_seed)
    world = open_real(probe_sim, bcfg)
    try:
        start = make_starts(world, bcfg, probe_sim.context_frames)[0]
        real = run_real(world, start, noop, args.horizon, [start.seed, 7])["frames"]
    finally:
        world.close()
    if len(real) < args.horizon or (peaks(real) >= VISIBLE).any():
        raise ConfigError(f"seed {args.start_seed}: the real game ends or shows a ball under noop; pick an idle start")
    frames = np.concatenate([start.frames, real])
    actions = np.concatenate([start.frame_actions, np.zeros(args.horizon, np.int64)])
    sim = Simulator.load(args.world, num_streams=args.streams, device="cpu", sampling=sampling, seed=0)
    drawn = peaks(from_real_context(sim, frames, actions, 0, args.horizon)) >= VISIBLE
    sim = Simulator.load(args.world, num_streams=args.streams, device="cpu", sampling=sampling, seed=0)
    own, _, _ = run_model(sim, [noop] * args.streams, [start] * args.streams, args.horizon, progress=False)
    seen = peaks(own) >= VISIBLE
    hazard = float(drawn.mean())
    report = {
        "world": args.world, "start_seed": args.start_seed, "horizon": args.horizon, "streams": args.streams,
        "steps": args.steps, "guidance": args.guidance,
        "real_context_hazard": hazard,
        "real_context_streams_expected_to_serve": round(args.streams * (1 - (1 - hazard) ** args.horizon), 2),
        "own_context_first_ball": [int(s.argmax()) if s.any() else None for s in seen],
        "own_context_streams_that_serve": int(seen.any(1).sum()),
    }  # fmt: skip
    if args.by_action:
        by_action = {}
        names = [a.name for a in probe_sim.schema.actions]
        for label, action, scale in [*((n, i, 1.0) for i, n in enumerate(names)), ("null", 0, 0.0)]:
            plain = {"steps": args.steps, "guidance": {"scale": scale}}  # scale 0 is the null action's own flow
            sim = Simulator.load(args.world, num_streams=args.streams, device="cpu", sampling=plain, seed=0)
            frames_a = peaks(from_real_context(sim, frames, actions, action, args.horizon))
            by_action[label] = float((frames_a >= VISIBLE).mean())
        report["real_context_hazard_by_action"] = by_action
    for key, value in report.items():
        print(f"{key}: {json.dumps(value)}")
    if args.out:
        atomic_write_json(args.out, report)
    return report


if __name__ == "__main__":
    try:
        main()
    except Error as e:  # one line naming the problem and the fix, not a traceback
        raise SystemExit(f"error: {e}") from None
