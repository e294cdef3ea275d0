"""``worldsim refine``: give a trained world's codec a refiner that decodes each frame after the previous one."""

from __future__ import annotations

import argparse
import logging

from worldsim.config import apply_overrides, from_dict, read_config_file
from worldsim.training.refine import RefineConfig, train_refiner

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``refine`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "refine",
        help="train a refiner that sharpens a world's frames with the previous frame",
        description=(
            "Train a refiner for WORLD's codec: a small network that corrects each decoded frame using the\n"
            "frame shown before it, restoring detail the latent grid cannot hold. The encoder, decoder and\n"
            "dynamics stay frozen, so nothing else needs retraining. Writes RUN_DIR/world.safetensors (WORLD\n"
            "with the refined codec) and refine_eval.json (PSNR of plain and refined decoding and copy-last on\n"
            "validation windows decoded in a chain, as a rollout decodes). Re-running resumes."
        ),
        epilog=(
            "examples:\n"
            "  worldsim refine runs/carracing-student/world.safetensors --data data/carracing --out runs/refine\n"
            "  worldsim refine runs/doom/student/world.safetensors --data data/doom --out runs/doom/refined \\\n"
            "      channels=48 self_prev=0.7\n"
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("world", nargs="?", help="world file (from `worldsim train` or `worldsim distill`)")
    p.add_argument("--data", help="the world's dataset")
    p.add_argument("--out", help="run directory (default runs/refine)")
    p.add_argument("--steps", type=int, help="total training steps (default 2000)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--config", help="YAML/TOML file with RefineConfig fields")
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE", help="RefineConfig overrides")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run, optional_positional="world")


def config_from_args(args: argparse.Namespace) -> RefineConfig:
    """Merge defaults, ``--config`` file, flags and ``key=value`` overrides (later wins)."""
    data = read_config_file(args.config) if args.config else {}
    if args.world:
        data["world"] = args.world
    for key in ("data", "out", "steps", "device", "threads"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    data = apply_overrides(data, list(args.overrides))
    return from_dict(RefineConfig, data, where=args.config or "refine options")


def run(args: argparse.Namespace) -> int:
    """Train, then print the chain PSNR against plain decoding and copy-last."""
    result = train_refiner(config_from_args(args), progress=not args.no_progress)
    if result.get("stopped"):
        return 0
    v = result["val_psnr"]
    log.info(
        "validation PSNR (decoded in a chain of %d): refined %.2f dB, plain %.2f dB, copy-last %.2f dB; "
        "decode %.2f ms/frame (CPU, batch 1)",
        result["val_length"], v["refined"], v["plain"], v["copy_last"], result["decode_ms"],
    )  # fmt: skip
    log.info("world: %s", result["world_file"])
    return 0
