"""``worldsim worlds``: list the registered worlds, their simulators and actions."""

from __future__ import annotations

import argparse
import json

from worldsim.assets import shipped_worlds
from worldsim.errors import DependencyNotInstalled
from worldsim.sources import WORLDS, world_class


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``worlds`` subcommand."""
    from worldsim.cli import HelpFormatter

    p = sub.add_parser(
        "worlds",
        help="list the worlds you can collect from, train and play",
        description="List the source worlds: the real simulators WorldSim learns from, with their action sets.",
        epilog="examples:\n  worldsim worlds\n  worldsim worlds --json",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one block per world."""
    rows = []
    for name, entry in WORLDS.items():
        row = {"name": name, "simulator": entry.simulator, "description": entry.description}
        try:
            cls = world_class(name)
            cfg = cls.Config()
            row.update(
                available=True,
                resolution=f"{cfg.height}x{cfg.width}",
                actions=[f"{a.name}[{'/'.join('+'.join(k) for k in a.keys) or '-'}]" for a in cls.schema.actions],
                schema=f"v{cls.schema.version} {cls.schema.fingerprint}",
            )
        except DependencyNotInstalled as e:
            row.update(available=False, error=str(e))
        rows.append(row)
    shipped = set(shipped_worlds())
    for r in rows:
        r["learned_model"] = r["name"] in shipped
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        model = "learned model shipped" if r["learned_model"] else "no learned model shipped (collect and train one)"
        print(f"{r['name']:<10} {r['description']}  ({r['simulator']}; {model})")
        if r["available"]:
            print(f"{'':<10} {r['resolution']}, schema {r['schema']}, actions: {' '.join(r['actions'])}")
        else:
            print(f"{'':<10} unavailable: {r['error']}")
    return 0
