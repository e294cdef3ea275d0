"""``worldsim train``: train a world model on a dataset."""

from __future__ import annotations

import argparse
import logging

from worldsim.config import apply_overrides, from_dict, read_config_file
from worldsim.training.train import TrainConfig, train

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``train`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "train",
        help="train a world model (codec stage, then the dynamics transformer)",
        description=(
            "Train the dynamics transformer on a recorded dataset; without --codec, a frame codec is trained\n"
            "first. Writes RUN_DIR/world.safetensors (loadable on its own), checkpoints, metrics.csv, TensorBoard\n"
            "logs and sample videos. Re-running the same command resumes. Multi-GPU: prefix with\n"
            "`torchrun --nproc_per_node N -m` and the same arguments."
        ),
        epilog=(
            "examples:\n"
            "  worldsim train data/carracing --out runs/carracing --steps 20000\n"
            "  worldsim train data/carracing --codec runs/codec/codec.safetensors --model base --batch-size 64\n"
            "  worldsim train --config configs/carracing.yaml steps=40000 objective.context_noise=0.2\n"
            "  torchrun --nproc_per_node 8 -m worldsim train --config configs/carracing.yaml"
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("data", nargs="?", help="dataset directory")
    p.add_argument("--out", help="run directory (default runs/<dataset name>)")
    p.add_argument("--codec", help="trained codec file (default: train one first)")
    p.add_argument("--model", help="size preset: tiny, small, base, large, nfd-310m")
    p.add_argument("--steps", type=int, help="total optimisation steps")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="windows per step (per GPU)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the model (CUDA)")
    p.add_argument("--config", help="YAML/TOML file with TrainConfig fields")
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig overrides")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run, optional_positional="data")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults < --config file < flags < key=value overrides."""
    data = read_config_file(args.config) if args.config else {}
    for key in ("data", "out", "codec", "model", "steps", "batch_size", "device", "compile"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    data = apply_overrides(data, args.overrides)
    if data.get("data") and not data.get("out"):
        data["out"] = f"runs/{str(data['data']).rstrip('/').split('/')[-1]}"
    return from_dict(TrainConfig, data, where=args.config or "train options")


def run(args: argparse.Namespace) -> int:
    """Train, then say where the world went."""
    cfg = config_from_args(args)
    path = train(cfg, progress=not args.no_progress)
    log.info("world model: %s  (evaluate it with: worldsim eval %s --data %s)", path, path, cfg.data)
    return 0
