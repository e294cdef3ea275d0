"""``worldsim data``: inspect, validate and import datasets."""

from __future__ import annotations

import argparse
import json
import sys

from worldsim.data import Dataset, validate_dataset
from worldsim.data.importer import import_recordings
from worldsim.sources import world_class


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``data info``, ``data validate`` and ``data import``."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "data",
        help="inspect, validate and import datasets",
        description="Work with recorded datasets (see docs/dataset.md for the format).",
        epilog=(
            "examples:\n"
            "  worldsim data info data/carracing\n"
            "  worldsim data validate data/carracing\n"
            "  worldsim data import run1.mp4 run2.mp4 --actions noop,left,right,jump --name mygame --out data/mygame"
        ),
        formatter_class=HelpFormatter,
    )
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    info = dsub.add_parser(
        "info",
        help="counts, actions and splits of a dataset",
        formatter_class=HelpFormatter,
        description="Print a dataset's world, resolution, actions, episode/frame counts and action frequencies.",
        epilog="example:\n  worldsim data info data/carracing --json",
    )
    info.add_argument("path", help="dataset directory")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=run_info)

    val = dsub.add_parser(
        "validate",
        help="check every shard; exit non-zero on a problem",
        formatter_class=HelpFormatter,
        description=(
            "Check meta.json and every shard: truncation, checksums, world/resolution/action-schema match,\n"
            "action ids in range. Prints one line per problem naming the file and the fix; exit code 1 if any."
        ),
        epilog="example:\n  worldsim data validate data/carracing",
    )
    val.add_argument("path", help="dataset directory")
    val.add_argument("--quick", action="store_true", help="skip checksums (structure only)")
    val.set_defaults(func=run_validate)

    imp = dsub.add_parser(
        "import",
        help="turn video + per-frame action CSV recordings into a dataset",
        formatter_class=HelpFormatter,
        description=(
            "Import your own recordings: each VIDEO needs a CSV (same name, .csv) with a header and one row per\n"
            "frame: action[,reward,terminated,episode,frame]. Row i is the action taken on frame i.\n"
            "Re-running skips recordings already imported; importing into an existing dataset appends."
        ),
        epilog=(
            "examples:\n"
            "  worldsim data import drive.mp4 --world carracing --out data/my_drives\n"
            "  worldsim data import a.mp4 b.mp4 --name mygame --actions noop,left,right,jump --out data/mygame\n"
            "  worldsim data import clip.avi --csv clip_actions.csv --name mygame --out data/mygame"
        ),
    )
    imp.add_argument("videos", nargs="+", help="video files (mp4, avi, ...)")
    imp.add_argument("--out", required=True, help="dataset directory (created or appended to)")
    imp.add_argument("--csv", action="append", help="CSV per video, in order (default: VIDEO with .csv)")
    group = imp.add_mutually_exclusive_group()
    group.add_argument("--world", help="use this registered world's action schema (names must match)")
    group.add_argument("--actions", help="comma-separated action names in id order (default: from the CSV)")
    imp.add_argument("--name", default="custom", help="world name for a new schema")
    imp.add_argument("--resolution", type=int, default=64, help="square frame size")
    imp.add_argument("--fps", type=float, default=30.0, help="frame rate of the recording")
    imp.add_argument("--shard-frames", type=int, default=2000, help="transitions per shard")
    imp.set_defaults(func=run_import)


def run_info(args: argparse.Namespace) -> int:
    """Print a dataset summary."""
    summary = Dataset(args.path).summary()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for key, value in summary.items():
        if key == "action_counts":
            total = max(sum(value.values()), 1)
            value = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        print(f"{key:>18}: {value}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    """Print problems one per line; exit 1 if there are any."""
    problems = list(validate_dataset(args.path, checksums=not args.quick))
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"{args.path}: {len(problems)} problem(s) found", file=sys.stderr)
        return 1
    ds = Dataset(args.path)
    planned = ds.meta.get("collect", {}).get("num_shards")
    note = (
        f" (incomplete: {len(ds.shards)}/{planned} shards; re-run the collect command to finish)"
        if (planned and len(ds.shards) < planned)
        else ""
    )
    print(f"{args.path}: OK, {len(ds.shards)} shards, {len(ds)} episodes, {ds.num_steps} steps{note}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Import recordings and report what was added."""
    from worldsim.actions import ActionSchema

    schema = None
    if args.world:
        schema = world_class(args.world).schema
    elif args.actions:
        schema = ActionSchema.from_names(args.name, [a.strip() for a in args.actions.split(",") if a.strip()])
    added = import_recordings(
        args.videos,
        args.out,
        schema=schema,
        world_name=args.name,
        csvs=args.csv,
        height=args.resolution,
        width=args.resolution,
        fps=args.fps,
        frames_per_shard=args.shard_frames,
    )
    print(f"imported {added} steps into {args.out}  (check it with: worldsim data validate {args.out})")
    return 0
