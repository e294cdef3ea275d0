"""``worldsim rank``: does the model rank policies as the real simulator does?"""

from __future__ import annotations

import argparse

from worldsim.cli.branches import add_fresh_start_args
from worldsim.cli.sampling_args import sampling_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``rank`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "rank",
        help="policy-ranking validity: policies scored in the model and in the real simulator from the same starts",
        description=(
            "Drive a suite of policies of clearly different quality (CarRacing: the pilot at several speeds and\n"
            "noise levels, a brake-happy pilot, always gas, random, coasting; Breakout: the frame-reading pilot,\n"
            "sloppier copies of it, random, fire with a still paddle, noop) closed loop from the same fresh\n"
            "start states in the model and in the real simulator. Prints each policy's mean return in both and\n"
            "its off-road share (from the probes), Spearman's rho and Kendall's tau between the rankings with\n"
            "bootstrap intervals over the starts. Writes OUT/rank.json and OUT/rank.png (scatter)."
        ),
        epilog=(
            "examples:\n"
            "  worldsim rank carracing --starts 8 --horizon 150 --out out/rank\n"
            "  worldsim rank runs/carracing-cf/world.safetensors --seed 40000 --out out/rank-cf\n"
            "  worldsim rank breakout --starts 8 --seed 41000 --out out/rank-breakout"
        ),
        formatter_class=HelpFormatter,
    )
    add_fresh_start_args(p, starts=8, seed=40000, horizon=150, horizon_help="frames each policy drives", out="out/rank")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Rank, print, write."""
    from worldsim.errors import ConfigError
    from worldsim.eval.rank import RankConfig, format_rank, run_rank, write_rank
    from worldsim.io import writable_dir

    if args.starts < 2 or args.horizon < 1:
        raise ConfigError(f"--starts must be >= 2 (intervals) and --horizon >= 1, got {args.starts}, {args.horizon}")
    writable_dir(args.out)
    cfg = RankConfig(
        world=args.world, starts=args.starts, seed=args.seed, horizon=args.horizon, device=args.device,
        backend=args.backend, sampling=sampling_overrides(args),
    )  # fmt: skip
    report = run_rank(cfg, progress=not args.no_progress)
    paths = write_rank(report, args.out)
    print(format_rank(report))
    print("report: " + "  ".join(f"{k}: {v}" for k, v in paths.items()))
    return 0
