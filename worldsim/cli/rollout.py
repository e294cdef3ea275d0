"""``worldsim rollout``: placeholder registration (being built)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``rollout`` subcommand."""
    p = sub.add_parser("rollout", help="(being built)", epilog="examples:\n  worldsim rollout --help")
    p.set_defaults(func=lambda args: 2)
