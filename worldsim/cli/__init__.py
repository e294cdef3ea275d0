"""The ``worldsim`` command line: one subcommand module per job.

Each module named in :data:`COMMANDS` exposes ``add_parser(subparsers)`` and sets ``func`` on its parser; later
jobs (train, distill, eval, play, rollout, bench, export) plug in the same way.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from worldsim import __version__
from worldsim.errors import Error
from worldsim.runtime import quiet_openmp, use_generation_threads

#: subcommand -> module in worldsim.cli; each module's add_parser registers the subcommand.
COMMANDS = {
    "worlds": "worlds",
    "collect": "collect",
    "data": "data",
    "train-codec": "train_codec",
    "train": "train",
    "distill": "distill",
    "refine": "refine",
    "heads": "heads",
    "eval": "eval",
    "bench": "bench",
    "export": "export",
    "play": "play",
    "rollout": "rollout",
    "branches": "branches",
    "rank": "rank",
}

EPILOG = """examples:
  worldsim play                                     drive the shipped CarRacing world (arrows/WASD, H for help)
  worldsim play doom --side-by-side                 a game world, the real simulator beside it
  worldsim rollout carracing_straight_brake         what if the car brakes here? video, plot and report
  worldsim bench carracing                          how fast it runs here (FPS, FLOPs, the play loop)
  worldsim worlds                                   list the worlds and their actions
  worldsim collect carracing --frames 20000 --workers 2 --out data/carracing
  worldsim data validate data/carracing             check every shard
  worldsim data info data/carracing                 counts, actions, splits

Run `worldsim COMMAND --help` for the options of each command."""


#: Commands that generate frames: they run under the CPU policy of :mod:`worldsim.runtime`.
GENERATING = ("play", "rollout", "eval", "bench", "export")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep example layout in descriptions and show defaults (once: not when the help already names one)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, [], "", False) or "default" in text:
            return text
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="worldsim",
        description="WorldSim: neural simulators learned from recorded frames and actions.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"worldsim {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(f"worldsim.cli.{module}").add_parser(sub)
    return parser


def parse(argv: list[str] | None = None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser and the parsed arguments of a ``worldsim`` command line (exits with usage on a bad one)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse cannot take `key=value` positionals after options; collect them here instead.
    overrides = [e for e in extra if "=" in e and not e.startswith("-")]
    unknown = [e for e in extra if e not in overrides]
    if unknown or (overrides and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or overrides)}")
    if overrides:
        args.overrides = [*args.overrides, *overrides]
    # An optional positional (`worldsim train [DATA]`) swallows the first `key=value`; give it back.
    name = getattr(args, "optional_positional", None)
    value = getattr(args, name, None) if name else None
    if isinstance(value, str) and "=" in value:
        args.overrides.insert(0, value)
        setattr(args, name, None)
    return parser, args


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``worldsim`` console script; returns the exit code."""
    quiet_openmp()  # before torch loads (building the parser imports it)
    parser, args = parse(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "%(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if args.command in GENERATING:
        use_generation_threads()
    try:
        return int(args.func(args) or 0)
    except Error as e:
        print(f"worldsim {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # read-only or full output directories, missing paths: one line, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        print(
            f"worldsim {args.command}: error: {where}{e.strerror or e}; check that the path exists and is writable "
            "and that the disk has room",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(
            f"worldsim {args.command}: interrupted; finished work is saved, re-run the same command to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
