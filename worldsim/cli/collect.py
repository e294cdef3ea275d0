"""``worldsim collect``: record a dataset from a real simulator."""

from __future__ import annotations

import argparse
import logging

from worldsim.config import apply_overrides, from_dict, read_config_file
from worldsim.data.collect import CollectConfig, collect
from worldsim.errors import ConfigError

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``collect`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "collect",
        help="record frames and actions from a real simulator",
        description=(
            "Record a dataset from a real simulator with data policies (random with held actions, scripted\n"
            "drivers), in parallel worker processes. Re-running the same command resumes an interrupted run;\n"
            "the same --seed gives the same dataset, whatever --workers is."
        ),
        epilog=(
            "examples:\n"
            "  worldsim collect carracing --frames 200000 --out data/carracing --workers 8 --seed 0\n"
            "  worldsim collect highway -W scenario=roundabout --policy scripted=0.5,random=0.5\n"
            "  worldsim collect doom -W scenario=deadly_corridor --resolution 96\n"
            "  worldsim collect --config my_collect.yaml frames=50000"
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("world", nargs="?", help="world name (see `worldsim worlds`)")
    p.add_argument("--frames", type=int, help="transitions to record (default 10000)")
    p.add_argument("--out", help="dataset directory (default data/WORLD)")
    p.add_argument("--workers", type=int, help="parallel worker processes (default 1)")
    p.add_argument("--seed", type=int, help="base seed (default 0)")
    p.add_argument("--policy", help="policy mix, e.g. scripted=0.7,random=0.3, or 'auto' (default)")
    p.add_argument("--shard-frames", type=int, dest="frames_per_shard", help="transitions per shard (default 2000)")
    p.add_argument("--resolution", type=int, help="square frame size, e.g. 64 (sets height and width)")
    p.add_argument(
        "-W",
        "--world-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a field of the world's config, e.g. scenario=merge (repeatable)",
    )
    p.add_argument("--config", help="YAML/TOML file with CollectConfig fields")
    p.add_argument("overrides", nargs="*", default=[], metavar="KEY=VALUE", help="CollectConfig overrides")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run, optional_positional="world")


def config_from_args(args: argparse.Namespace) -> CollectConfig:
    """Merge defaults, ``--config`` file, flags and ``key=value`` overrides (later wins)."""
    data = read_config_file(args.config) if args.config else {}
    if args.world:
        data["world"] = args.world
    for key in ("frames", "out", "workers", "seed", "policy", "frames_per_shard"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    options = dict(data.get("world_options", {}))
    if args.resolution is not None:
        if args.resolution < 8:
            raise ConfigError(f"--resolution {args.resolution}: frames must be at least 8x8 pixels, e.g. 64")
        options.update(height=args.resolution, width=args.resolution)
    options = apply_overrides(options, args.world_option)
    if options:
        data["world_options"] = options
    data = apply_overrides(data, args.overrides)
    data.setdefault("out", f"data/{data.get('world', 'carracing')}")
    return from_dict(CollectConfig, data, where=args.config or "collect options")


def run(args: argparse.Namespace) -> int:
    """Collect, then print where the dataset went."""
    cfg = config_from_args(args)
    result = collect(cfg, progress=not args.no_progress)
    if result.shards_written == 0:
        log.info("nothing to do: all %d shards of %s are already recorded", result.shards_skipped, result.out)
    else:
        log.info(
            "recorded %d frames in %d shards at %.0f frames/s",
            result.steps_written,
            result.shards_written,
            result.frames_per_second,
        )
    log.info("dataset: %s  (check it with: worldsim data validate %s)", result.out, result.out)
    return 0
