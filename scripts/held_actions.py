"""Contact sheet of a world under held actions: does it respond to each key? (model cards, docs).

    python scripts/held_actions.py carracing --actions left,right,gas,brake --out docs/img/carracing-actions.png
    python scripts/held_actions.py doom --frames 32 --every 4 --out docs/img/doom-actions.png

Every row starts from the same shipped start state and holds one action for ``--frames`` frames. Shipped start
states are frames, not simulator states, so the real simulator cannot be replayed beside them: the sheet shows
the model only.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from worldsim.errors import Error
from worldsim.sampling.simulator import Simulator
from worldsim.video import contact_sheet, write_png


def main(argv: list[str] | None = None) -> int:
    """Render the sheet; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("world", help="shipped world name or world.safetensors")
    p.add_argument("--actions", default="", help="comma-separated action names (default: every action)")
    p.add_argument("--frames", type=int, default=24, help="frames generated per row")
    p.add_argument("--every", type=int, default=3, help="show every N-th frame")
    p.add_argument("--seed", type=int, default=0, help="start state and sampling seed")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the world's)")
    p.add_argument("--out", required=True, help="PNG path")
    args = p.parse_args(argv)
    try:
        from worldsim.assets import resolve_world
        from worldsim.world_model import WorldModel

        names = [a for a in args.actions.split(",") if a]
        names = names or list(WorldModel.load(resolve_world(args.world).world).schema.names)
        sim = Simulator.load(
            args.world,
            num_streams=len(names),
            device="cpu",
            seed=args.seed,
            sampling={"steps": args.steps} if args.steps else None,
        )
        ids = sim.action_ids(names)  # validates the names: unknown ones get a "did you mean" error
        pick = sim.starts.pick(args.seed)
        ctx = np.repeat(sim.starts.frames[pick][None], len(names), 0)
        acts = np.repeat(sim.starts.actions[pick][None], len(names), 0)
        rows = [[f] for f in sim.reset(ctx, acts)]
        for _ in range(args.frames):
            for row, frame in zip(rows, sim.step(ids).frames, strict=True):
                row.append(frame)
    except Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    write_png(args.out, contact_sheet([np.stack(r) for r in rows], every=args.every, scale=2))
    print(f"{args.out}: rows {', '.join(names)}; one frame in {args.every} of {args.frames}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
