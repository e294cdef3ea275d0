"""One policy of a world's rank suite, closed loop in the real game and in the world from the same fresh starts.

Prints, per start and overall, the return in both and (Breakout) how often each shows a ball after the first
30 frames, how many times a ball comes into play (after 12 frames without one: only fire serves in the real game)
and how often the score digits turn; writes a contact sheet (real row over model row, a frame every 10
steps, the first 4 starts). A Breakout world that keeps drawing a ball after a still paddle has lost the real one
shows it here (docs/model.md, "Counterfactual data did not fix it").

    python scripts/policy_sheet.py runs/bk/pkg-cf/breakout/world.safetensors noop --starts 8 --out noop.png
    python scripts/policy_sheet.py TEACHER.safetensors noop --steps 8 --guidance 2
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np

from worldsim.errors import ConfigError


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("world", help="shipped world name or world file")
    p.add_argument("policy", help="a label of the world's rank suite (worldsim/eval/rank.py), e.g. noop, pilot")
    p.add_argument("--starts", type=int, default=8, help="fresh start states (one simulator seed each)")
    p.add_argument("--seed", type=int, default=41000, help="first simulator seed (use seeds no training run saw)")
    p.add_argument("--horizon", type=int, default=150, help="frames the policy plays")
    p.add_argument("--steps", type=int, help="denoising steps per frame (default: the world's recipe)")
    p.add_argument("--guidance", type=float, help="action guidance scale (default: the world's recipe)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default="policy_sheet.png", help="contact sheet path (a .json of the figures beside it)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import cv2
    import torch

    from worldsim.eval.branches import BranchConfig, make_starts, open_real
    from worldsim.eval.rank import run_model, run_real, suite
    from worldsim.io import atomic_write_bytes, atomic_write_json
    from worldsim.sampling.simulator import Simulator

    torch.set_num_threads(args.threads)
    sampling: dict = {}
    if args.steps:
        sampling["steps"] = args.steps
    if args.guidance:
        sampling["guidance"] = {"scale": args.guidance}
    probe_sim = Simulator.load(args.world, num_streams=1, device="cpu", backend="eager", sampling=sampling or None)
    name = probe_sim.schema.world
    policies = suite(name)
    if args.policy not in policies:
        raise ConfigError(f"{args.policy!r} is not in {name}'s rank suite; use one of: {'; '.join(policies)}")
    spec = policies[args.policy]
    bcfg = BranchConfig(world=args.world, starts=args.starts, seed=args.seed)
    world = open_real(probe_sim, bcfg)
    try:
        starts = make_starts(world, bcfg, probe_sim.context_frames)
        real = [run_real(world, s, spec, args.horizon, [s.seed, 7]) for s in starts]
    finally:
        world.close()
    sim = Simulator.load(args.world, num_streams=len(starts), device="cpu", sampling=sampling or None, seed=0)
    model_frames, reward, _ = run_model(sim, [spec] * len(starts), starts, args.horizon, progress=False)
    report: dict = {
        "world": args.world, "policy": args.policy, "start_seeds": [s.seed for s in starts], "horizon": args.horizon,
        "real_return": [float(r["return"]) for r in real], "model_return": [float(x) for x in reward.sum(1)],
    }  # fmt: skip
    if name == "breakout":
        from worldsim.probes.breakout import ball, serves
        from worldsim.probes.breakout import score_changed as score

        late = slice(30, None)
        real_late = [r["frames"][late] for r in real if len(r["frames"]) > 30]
        report["ball_after_30"] = {
            "real": float(np.mean([ball(f)["present"].mean() for f in real_late])) if real_late else 0.0,
            "model": float(ball(model_frames[:, late])["present"].mean()),
        }
        # Balls that come into play after 12 frames without one; the real game serves only on fire.
        report["serves_per_start"] = {
            "real": float(np.mean([serves(ball(r["frames"])["present"]) for r in real if len(r["frames"])])),
            "model": float(serves(ball(model_frames)["present"]).mean()),
        }
        report["score_turns"] = {
            "real": float(np.mean([score(r["frames"]).mean() for r in real if len(r["frames"])])),
            "model": float(score(model_frames).mean()),
        }
    report["mean_return"] = {"real": float(np.mean(report["real_return"])), "model": float(reward.sum(1).mean())}
    for key, value in report.items():
        if key not in ("world", "start_seeds"):
            print(f"{key}: {json.dumps(value)}")
    idx = range(0, args.horizon, 10)
    size = (96, 96)
    rows = []
    for i in range(min(4, len(starts))):
        for src in (real[i]["frames"], model_frames[i]):
            pick = [src[min(j, len(src) - 1)] if len(src) else np.zeros_like(model_frames[i, 0]) for j in idx]
            rows.append(np.concatenate([cv2.resize(f, size, interpolation=cv2.INTER_NEAREST) for f in pick], 1))
    ok, png = cv2.imencode(".png", cv2.cvtColor(np.concatenate(rows, 0), cv2.COLOR_RGB2BGR))
    atomic_write_bytes(args.out, png.tobytes())
    atomic_write_json(str(args.out).rsplit(".", 1)[0] + ".json", report)
    print(f"sheet (real row over model row, every 10 frames): {args.out}")
    return report


if __name__ == "__main__":
    from worldsim.errors import Error

    try:
        main()
    except Error as e:  # one line naming the problem and the fix, not a traceback
        raise SystemExit(f"error: {e}") from None
