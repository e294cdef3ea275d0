"""``worldsim branches``: what each action does from the same state, in the model and in the real simulator."""

from __future__ import annotations

import argparse

from worldsim.cli.sampling_args import add_sampling_args, sampling_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``branches`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "branches",
        help="counterfactual fidelity: hold each action from fresh states, in the model and the real simulator",
        description=(
            "Make fresh start states in the real simulator (unseen seeds; the scripted policy drives a while, so\n"
            "the car is at speed and in bends), then from each hold every action for HORIZON frames, and let the\n"
            "scripted policy go on, in the model and in the real simulator with the same actions. Per branch kind:\n"
            "PSNR/SSIM vs real against copy-last and, where the world has probes, the state read from both\n"
            "pictures: CarRacing, moving or stopped, on or off the road, the frame a braking car stops at; highway,\n"
            "whether the ego car crashes (and whether the model's termination head fires) and its lane at the end.\n"
            "Writes OUT/branches.json, OUT/branches.png (plot) and OUT/sheet.png (real and model rows)."
        ),
        epilog=(
            "examples:\n"
            "  worldsim branches carracing --starts 10 --seed 20000 --out out/branches\n"
            "  worldsim branches highway --starts 8 --seed 42000 --horizon 30\n"
            "  worldsim branches runs/carracing-cf/world.safetensors --starts 10 --seed 20000 --no-hold"
        ),
        formatter_class=HelpFormatter,
    )
    add_fresh_start_args(
        p, starts=10, seed=20000, horizon=40, horizon_help="frames each branch is held", out="out/branches"
    )
    p.set_defaults(func=run)


def add_fresh_start_args(
    p: argparse.ArgumentParser, starts: int, seed: int, horizon: int, horizon_help: str, out: str
) -> None:
    """Options of the commands that compare the model with the real simulator from fresh start states.

    ``branches`` and ``rank``: the world, the starts and their seeds, the horizon, where to write, how to run.
    """
    p.add_argument("world", nargs="?", default="carracing", help="shipped world name or world file")
    p.add_argument("--starts", type=int, default=starts, help="fresh start states (one simulator seed each)")
    p.add_argument("--seed", type=int, default=seed, help="first simulator seed (use seeds no training run saw)")
    p.add_argument("--horizon", type=int, default=horizon, help=horizon_help)
    p.add_argument("--out", default=out, help="output directory")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--backend", default="auto", help="generation backend")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_sampling_args(p)


def run(args: argparse.Namespace) -> int:
    """Run, print the table, write the report."""
    from worldsim.errors import ConfigError
    from worldsim.eval.branches import BranchConfig, run_branches
    from worldsim.eval.branches_report import format_branches, write_branches
    from worldsim.io import writable_dir

    if args.starts < 1 or args.horizon < 1:
        raise ConfigError(f"--starts and --horizon must be >= 1, got {args.starts} and {args.horizon}")
    writable_dir(args.out)
    cfg = BranchConfig(
        world=args.world,
        starts=args.starts,
        seed=args.seed,
        horizon=args.horizon,
        device=args.device,
        backend=args.backend,
        sampling=sampling_overrides(args),
    )
    report = run_branches(cfg, progress=not args.no_progress)
    paths = write_branches(report, args.out)
    print(format_branches(report))
    print("report: " + "  ".join(f"{k}: {v}" for k, v in paths.items()))
    return 0
