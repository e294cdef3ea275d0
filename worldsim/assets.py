"""Finding worlds: a shipped world by name (``assets/<name>/``) or a checkpoint by path.

A shipped world is a directory ``assets/<name>/`` holding ``world.safetensors`` (codec + dynamics + schema),
``starts.safetensors`` (real start frames) and a model card ``README.md``. ``WORLDSIM_ASSETS`` points at
another assets directory. A checkpoint path may be a ``.safetensors`` file or a directory with
``world.safetensors``; its start states are the ``starts.safetensors`` beside it, when there is one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from worldsim.errors import CheckpointError, unknown_name

DEFAULT_WORLD = "carracing"


def assets_dir() -> Path:
    """The directory of shipped worlds."""
    env = os.environ.get("WORLDSIM_ASSETS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "assets"


def shipped_worlds() -> list[str]:
    """Names of the worlds shipped in :func:`assets_dir`."""
    root = assets_dir()
    return sorted(p.parent.name for p in root.glob("*/world.safetensors")) if root.is_dir() else []


@dataclass(frozen=True)
class WorldFiles:
    """Where a world's files are."""

    name: str
    world: Path
    starts: Path | None
    card: Path | None = None


def long_play_verdicts(card: Path | None) -> dict[int, bool]:
    """``{steps: passed}`` of a model card's 10,000-frame stability check (``scripts/stability.py``); {} if none.

    A step count that failed drifts off the real picture in long play; the simulator warns when it is used.
    """
    if card is None or not card.is_file():
        return {}
    try:
        rows = json.loads(card.read_text()).get("long_stability", {}).get("rows", {})
        return {int(k): bool(v["passed"]) for k, v in rows.items()}
    except (ValueError, TypeError, KeyError, AttributeError):  # a card is documentation: never stop a run over it
        return {}


def resolve_world(spec: str | Path | None = None) -> WorldFiles:
    """Files of a shipped world name or a checkpoint path (default: :data:`DEFAULT_WORLD`).

    Raises:
        CheckpointError: a path that does not exist.
        UnknownNameError: a name that is neither shipped nor a path (the message lists the shipped worlds).
    """
    spec = str(spec or DEFAULT_WORLD)
    path = Path(spec).expanduser()
    looks_like_path = path.suffix == ".safetensors" or os.sep in spec or path.exists()
    if looks_like_path:
        if path.is_dir():
            path = path / "world.safetensors"
        if not path.is_file():
            raise CheckpointError(
                f"{path}: world checkpoint not found; pass a shipped world ({', '.join(shipped_worlds()) or 'none'}) "
                "or the world.safetensors written by `worldsim train`"
            )
        starts = path.with_name("starts.safetensors")
        name = path.stem if path.stem != "world" else path.parent.name
        card = path.with_name("card.json")
        return WorldFiles(name, path, starts if starts.is_file() else None, card if card.is_file() else None)
    names = shipped_worlds()
    if spec not in names:
        raise unknown_name("world", spec, names or ["(none shipped: pass a checkpoint path)"])
    root = assets_dir() / spec
    starts, card = root / "starts.safetensors", root / "card.json"
    return WorldFiles(
        spec, root / "world.safetensors", starts if starts.is_file() else None, card if card.is_file() else None
    )


def source_world(spec: str | Path | None = None) -> str:
    """The source (real) world a learned world was trained on: its action schema's world, e.g. ``carracing``."""
    from worldsim.actions import ActionSchema
    from worldsim.checkpoint import load_checkpoint

    _, meta = load_checkpoint(resolve_world(spec).world, kind="world")
    return ActionSchema.from_dict(meta["action_schema"]).world
