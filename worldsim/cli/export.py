"""``worldsim export``: compile a world's per-frame step for a backend and save it for reuse."""

from __future__ import annotations

import argparse

from worldsim.cli.sampling_args import add_sampling_args, sampling_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``export`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "export",
        help="save the compiled per-frame step (ONNX graphs, TensorRT programs)",
        description=(
            "Export the per-frame step of a world for a backend, for the stream count and speculative lookahead\n"
            "you will run, into OUT. Samplers given the same directory (--compiled-dir) load these instead of\n"
            "exporting again; the files are tied to the world's weights (a hash is in each name)."
        ),
        epilog=(
            "examples:\n"
            "  worldsim export runs/carracing/world.safetensors --backend onnx --out runs/carracing/compiled\n"
            "  worldsim export runs/carracing/world.safetensors --backend tensorrt --lookahead 2 --out compiled"
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("world", help="world file")
    p.add_argument("--backend", default="onnx", help="onnx or tensorrt")
    p.add_argument("--out", required=True, help="directory for the exported programs")
    p.add_argument("--batch", type=int, default=1, help="streams per call")
    p.add_argument("--lookahead", type=int, default=0, help="speculative lookahead to prepare for")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    add_sampling_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run a short rollout through the Simulator so every graph shape it will use is built and saved.

    The rollout uses the world's sampling recipe (with the given overrides): a world with action guidance runs
    the guided 2B-stream step, and that is the shape exported.
    """
    from worldsim.device import resolve_device
    from worldsim.errors import ConfigError
    from worldsim.sampling.simulator import Simulator
    from worldsim.world_model import WorldModel

    if args.backend not in ("onnx", "tensorrt"):
        raise ConfigError(f"--backend {args.backend!r}: only 'onnx' and 'tensorrt' produce files to export")
    world = WorldModel.load(args.world, resolve_device(args.device))
    sim = Simulator(
        world, args.batch, sampling_overrides(args), lookahead=args.lookahead, backend=args.backend, cache_dir=args.out
    )
    sim.warmup()
    print(f"exported the {args.backend} step of {args.world} to {args.out} (guidance {sim.sampling.guidance.scale:g})")
    return 0
