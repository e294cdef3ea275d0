"""``worldsim heads``: retrain a world's reward and termination heads on what they read at inference."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from worldsim.config import apply_overrides, from_dict, read_config_file
from worldsim.training.heads import HeadsConfig, train_heads

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``heads`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "heads",
        help="retrain a world's reward and termination heads (distributional reward, calibrated termination)",
        description=(
            "Train new reward and termination heads for WORLD with everything else frozen: on real frames at\n"
            "the sampler's context noise, as the heads are read while playing. The reward head predicts a\n"
            "distribution over reward values (so a sparse event is not averaged away) and reports its mean;\n"
            "the termination head is calibrated, so the env's 0.5 threshold means what it says. Writes\n"
            "RUN_DIR/world.safetensors (WORLD with the new heads) and heads_eval.json (old and new heads on the\n"
            "dataset's validation episodes and, with --eval-data, on fresh episodes). Re-running resumes."
        ),
        epilog=(
            "examples:\n"
            "  worldsim heads carracing --data data/carracing --eval-data data/carracing-eval --out runs/heads\n"
            "  worldsim heads runs/highway/student/world.safetensors --data data/highway --out runs/highway/heads\n"
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("world", nargs="?", help="shipped world name or world file")
    p.add_argument("--data", help="the world's dataset (its train split trains, its val split validates)")
    p.add_argument("--eval-data", dest="eval_data", help="dataset of fresh episodes to score old and new heads on")
    p.add_argument("--out", help="run directory (default runs/heads)")
    p.add_argument("--steps", type=int, help="total training steps (default 2000)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--config", help="YAML/TOML file with HeadsConfig fields")
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE", help="HeadsConfig overrides")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run, optional_positional="world")


def config_from_args(args: argparse.Namespace) -> HeadsConfig:
    """Merge defaults, ``--config`` file, flags and ``key=value`` overrides (later wins)."""
    from worldsim.assets import resolve_world

    data = read_config_file(args.config) if args.config else {}
    if args.world:
        data["world"] = str(resolve_world(args.world).world)
    for key in ("data", "eval_data", "out", "steps", "device", "threads"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    data = apply_overrides(data, list(args.overrides))
    return from_dict(HeadsConfig, data, where=args.config or "heads options")


def _line(name: str, sc: dict[str, Any]) -> str:
    r, d = sc["reward"], sc["termination"]
    ev = r.get("events")
    events = f", events found {ev['recall']:.2f} at precision {ev['precision']:.2f}" if ev else ""
    return (
        f"{name}: reward MAE {r['mae']:.4f} (always-zero {r['mae_zero_baseline']:.4f}), correlation "
        f"{r['correlation']:.3f}{events}; termination recall {d['recall']:.2f} precision {d['precision']:.2f} "
        f"({d['positives']} real)"
    )


def run(args: argparse.Namespace) -> int:
    """Train, then print old and new heads' scores."""
    result = train_heads(config_from_args(args), progress=not args.no_progress)
    if result.get("stopped"):
        return 0
    for where, sc in result["scores"].items():
        log.info("%s episodes (%s, %d steps)", where, sc["data"], sc["new"]["steps"])
        log.info("  %s", _line("old heads", sc["old"]))
        log.info("  %s", _line("new heads", sc["new"]))
    log.info("world: %s", result["world_file"])
    return 0
