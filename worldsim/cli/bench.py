"""``worldsim bench``: generation speed (FPS, latency) against the naive path, measured in one run."""

from __future__ import annotations

import argparse
from pathlib import Path

from worldsim.cli.sampling_args import add_sampling_args, sampling_overrides
from worldsim.config import apply_overrides, from_dict
from worldsim.io import atomic_write_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``bench`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "bench",
        help="measure generation FPS and latency vs the naive path",
        description=(
            "Time the generation loop (action in -> decoded frame out) for each backend x steps x speculative\n"
            "lookahead x batch, and the naive path (32 steps, whole window recomputed, eager) in the same run.\n"
            "Prints a table and writes JSON. Without a world file, random weights of --preset are used."
        ),
        epilog=(
            "examples:\n"
            "  worldsim bench carracing --backends eager,onnx --steps 1,2,4         # the shipped world\n"
            "  worldsim bench --preset nfd-310m --device cuda --backends compile,tensorrt --steps 4 --batch 1,256\n"
            "  worldsim bench --preset cpu --out runs/bench-cpu.json lookahead=0,2,4"
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "world", nargs="?", default="", help="shipped world name or world file (default: random weights of --preset)"
    )
    p.add_argument("--preset", help="model size for random weights (cpu, small, base, nfd-310m, ...)")
    p.add_argument("--backends", help="comma-separated: eager, compile, onnx, tensorrt")
    p.add_argument("--steps", help="comma-separated denoising step counts")
    p.add_argument("--batch", help="comma-separated stream counts")
    p.add_argument("--frames", type=int, help="timed frames per configuration")
    p.add_argument("--device", help="auto, cpu, cuda")
    p.add_argument("--out", default="runs/bench.json", help="JSON report")
    p.add_argument("--load", type=int, help="busy processes beside the benchmark (1: one core kept busy)")
    p.add_argument("--no-play", action="store_true", help="skip the play-loop row (headless play of the world)")
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE", help="BenchConfig overrides")
    add_sampling_args(p, steps=False)  # --steps above is the list of step counts to time
    p.set_defaults(func=run, optional_positional="world")


def run(args: argparse.Namespace) -> int:
    """Benchmark, print, save."""
    from worldsim.io import writable_dir
    from worldsim.sampling.bench import BenchConfig, format_rows, run_bench

    writable_dir(Path(args.out).parent)  # before minutes of timing
    data: dict = {"world": args.world} if args.world else {}
    data["sampling"] = sampling_overrides(args)
    for key in ("preset", "backends", "steps", "batch", "frames", "device"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.load is not None:
        data["load"] = args.load
    cfg = from_dict(BenchConfig, apply_overrides(data, args.overrides), where="bench options")
    report = run_bench(cfg)
    if cfg.world and not args.no_play:
        from worldsim.play.headless import time_play_loop
        from worldsim.sampling.bench import busy_cores

        with busy_cores(cfg.load):
            report["play"] = time_play_loop(cfg.world, cfg.frames * 3, device=cfg.device or "auto",
                                            sampling=cfg.sampling)  # fmt: skip
    print(format_rows(report))
    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0
