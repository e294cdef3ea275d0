"""``worldsim export``: compile a world's per-frame step for a backend and save it for reuse."""

from __future__ import annotations

import argparse


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
    p.add_argument("--steps", type=int, default=0, help="denoising steps (default: the world's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run a short rollout through the backend so every graph shape is built and saved."""
    import torch

    from worldsim.device import resolve_device
    from worldsim.errors import ConfigError
    from worldsim.sampling.backends import make_backend
    from worldsim.sampling.cached import CachedSampler
    from worldsim.world_model import WorldModel

    if args.backend not in ("onnx", "tensorrt"):
        raise ConfigError(f"--backend {args.backend!r}: only 'onnx' and 'tensorrt' produce files to export")
    device = resolve_device(args.device)
    world = WorldModel.load(args.world, device)
    backend = make_backend(world.dynamics, args.backend, cache_dir=args.out)
    c = world.dynamics.cfg
    sampler = CachedSampler(backend, args.steps or world.sampling.steps, lookahead=args.lookahead)
    ctx = torch.zeros(
        args.batch, c.context_frames - 1, c.latent_channels, c.latent_height, c.latent_width, device=device
    )
    state = sampler.start(ctx, torch.zeros(args.batch, c.context_frames - 1, dtype=torch.long, device=device))
    for _ in range(2):
        state, _ = sampler.step(state, torch.zeros(args.batch, dtype=torch.long, device=device))
    print(f"exported the {args.backend} step of {args.world} to {args.out}")
    return 0
