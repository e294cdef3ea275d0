"""``worldsim play``: placeholder registration (being built)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``play`` subcommand."""
    p = sub.add_parser("play", help="(being built)", epilog="examples:\n  worldsim play --help")
    p.set_defaults(func=lambda args: 2)
