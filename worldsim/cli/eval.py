"""``worldsim eval``: score a world model against held-out real episodes."""

from __future__ import annotations

import argparse

from worldsim.cli.sampling_args import add_sampling_args, sampling_overrides
from worldsim.config import apply_overrides, from_dict


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``eval`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "eval",
        help="open-loop evaluation against real held-out episodes",
        description=(
            "Seed the model with real frames of validation episodes, feed the recorded actions, and compare\n"
            "the generated frames with the real ones: PSNR/SSIM per horizon band (1, 2-4, 5-16, 17-64) against\n"
            "the copy-last-frame baseline, action following (inverse-dynamics accuracy on generated vs real\n"
            "frame pairs), reward and termination heads. Writes OUT/eval.json and OUT/eval.png."
        ),
        epilog=(
            "examples:\n"
            "  worldsim eval runs/carracing/world.safetensors --data data/carracing --out runs/carracing/eval\n"
            "  worldsim eval runs/carracing/world.safetensors --data data/carracing --steps 4 --horizon 32"
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("world", help="shipped world name (carracing, doom, breakout) or world file (world.safetensors)")
    p.add_argument("--data", required=True, help="dataset with validation episodes")
    p.add_argument("--out", help="output directory (default: beside the world file, eval/; runs/eval-NAME for a name)")
    p.add_argument("--episodes", type=int, help="evaluation windows (default 16)")
    p.add_argument("--horizon", type=int, help="generated frames per window (default 64)")
    p.add_argument("--idm", help="inverse-dynamics classifier (default: train one, cached in OUT)")
    p.add_argument("--device", help="auto, cpu, cuda")
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE", help="EvalConfig overrides")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_sampling_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the table."""
    from pathlib import Path

    from worldsim.eval.report import format_probes, format_table
    from worldsim.eval.run import EvalConfig, run_eval

    path = Path(args.world)
    is_file = path.suffix == ".safetensors" or path.exists()
    default_out = str(path.parent / "eval") if is_file else f"runs/eval-{args.world}"
    data = {"world": args.world, "data": args.data, "out": args.out or default_out}
    data["sampling"] = sampling_overrides(args)
    for key in ("episodes", "horizon", "idm", "device"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    cfg = from_dict(EvalConfig, apply_overrides(data, args.overrides), where="eval options")
    result = run_eval(cfg, progress=not args.no_progress)
    print(format_table(result))
    if result.get("probes"):
        print(format_probes(result))
    ceiling = result["codec_ceiling"]
    print(
        f"codec ceiling (real frames through the codec): PSNR {ceiling['psnr']:.2f} dB, "
        f"IDM accuracy {ceiling['idm_accuracy']:.3f}, moving recall {ceiling['moving_recall']:.3f} "
        f"(moving pixels {ceiling['moving_ratio']:.2f} of real)"
    )
    if ceiling.get("probes"):
        print("codec ceiling " + format_probes(ceiling).replace("\n", "\ncodec ceiling "))
    files = result["files"]
    print(f"report: {files['json']}  plot: {files['png']}  sheet (real over generated rows): {files['sheet']}")
    return 0
