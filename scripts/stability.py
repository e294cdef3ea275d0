"""Closed-loop stability of a world over long free-running rollouts, at each denoising step count it offers.

For each step count: ``--streams`` rollouts of ``--frames`` frames under random held actions, every frame scored
against real frames of ``--data`` (no NaN, no flat frame, colour means inside the real range; see
:mod:`worldsim.eval.stability`). Writes one JSON with a row per step count (rewritten after each, so a long run
that is stopped keeps what it measured; re-running skips the step counts already in it).

    python scripts/stability.py carracing --data data/carracing --frames 10000 --steps 1,2,4 --out runs/stab.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("world", help="shipped world name or world file")
    p.add_argument("--data", required=True, help="a dataset of the world's real frames (its colour range)")
    p.add_argument("--frames", type=int, default=10_000)
    p.add_argument("--streams", type=int, default=2)
    p.add_argument("--steps", default="1,2,4", help="comma-separated denoising step counts")
    p.add_argument("--backend", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="JSON report")
    args = p.parse_args(argv)

    from worldsim.data.dataset import Dataset
    from worldsim.errors import Error
    from worldsim.eval.stability import closed_loop_stability, real_color_stats
    from worldsim.io import atomic_write_json
    from worldsim.runtime import use_generation_threads
    from worldsim.sampling.simulator import Simulator

    use_generation_threads()
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.is_file() else {"world": args.world, "rows": {}}
    try:
        real = real_color_stats(Dataset(args.data))
        for steps in (int(s) for s in args.steps.split(",")):
            if str(steps) in report["rows"]:
                continue
            sim = Simulator.load(args.world, num_streams=args.streams, device="cpu", backend=args.backend,
                                 sampling={"steps": steps}, seed=args.seed)  # fmt: skip
            row = closed_loop_stability(sim, real, frames=args.frames, seed=args.seed, progress=False)
            report["rows"][str(steps)] = row
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(out, report)
            print(f"{args.world} steps {steps}: {json.dumps(row)}", flush=True)
    except Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
