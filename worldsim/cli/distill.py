"""``worldsim distill``: turn a flow-matching teacher into a few-step shortcut student."""

from __future__ import annotations

import argparse
import logging

from worldsim.config import apply_overrides, from_dict, read_config_file
from worldsim.training.train import TrainConfig, train

log = logging.getLogger(__name__)

#: What distillation changes from plain training unless the user says otherwise.
DISTILL_DEFAULTS = {
    "steps": 5000,
    "lr": 1e-4,
    "warmup": 100,
    "ema": 0.999,
    "sample_steps": 4,
    "objective": {"bootstrap_every": 4},
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``distill`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "distill",
        help="distil a teacher world into a 1-4 step shortcut student",
        description=(
            "Fine-tune a trained world (the teacher) into a shortcut model: the student is also conditioned on\n"
            "the step size and learns, by self-consistency against its EMA, to take big steps; one student\n"
            "serves 1, 2 and 4 steps. Same run directory layout, resume and logging as `worldsim train`."
        ),
        epilog=(
            "examples:\n"
            "  worldsim distill runs/carracing/world.safetensors --data data/carracing --out runs/carracing-student\n"
            "  worldsim distill runs/carracing/world.safetensors --data data/carracing --steps 10000 batch_size=64\n"
            "  worldsim eval runs/carracing-student/world.safetensors --data data/carracing --steps 2"
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("teacher", help="teacher world file (world.safetensors from worldsim train)")
    p.add_argument("--data", help="dataset the teacher was trained on")
    p.add_argument("--out", help="run directory (default: runs/<teacher run>-student)")
    p.add_argument("--steps", type=int, help="distillation steps (default 5000)")
    p.add_argument("--batch-size", type=int, dest="batch_size", help="windows per step")
    p.add_argument("--device", help="auto, cpu, cuda")
    p.add_argument("--config", help="YAML/TOML file with TrainConfig fields")
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE", help="TrainConfig overrides")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Distillation defaults < --config < flags < overrides."""
    from pathlib import Path

    data = {**DISTILL_DEFAULTS, "objective": dict(DISTILL_DEFAULTS["objective"])}
    if args.config:
        file = read_config_file(args.config)
        data["objective"].update(file.pop("objective", {}))
        data.update(file)
    data["init_from"] = args.teacher
    for key in ("data", "out", "steps", "batch_size", "device"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    data = apply_overrides(data, args.overrides)
    data.setdefault("out", str(Path(args.teacher).parent) + "-student")
    return from_dict(TrainConfig, data, where=args.config or "distill options")


def run(args: argparse.Namespace) -> int:
    """Distil, then say where the student went."""
    cfg = config_from_args(args)
    path = train(cfg, progress=not args.no_progress)
    log.info("student: %s  (evaluate: worldsim eval %s --data %s --steps 4)", path, path, cfg.data)
    return 0
