"""Action files: scripted sequences of actions for headless play and replays.

Text (``.txt``, ``.csv`` or anything else): one segment per line, ``ACTION`` or ``ACTION,FRAMES``
(``ACTION FRAMES`` and ``ACTION*FRAMES`` work too); ``#`` starts a comment; an ``action,frames`` header
line is skipped. Actions are names or ids of the world's schema::

    # accelerate, then a left bend
    gas,40
    gas_left,12
    noop

YAML (``.yaml``/``.yml``/``.json``): a list whose items are a name, ``{gas: 40}`` or
``{action: gas, frames: 40}``.

Every error names the file and line and, for an unknown action, the valid names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from worldsim import safe_yaml
from worldsim.actions import ActionSchema
from worldsim.errors import ConfigError, InvalidAction

_SPLIT = re.compile(r"\s*[,;*\s]\s*")


#: Most frames an action file may ask for (about 9 hours at 30 FPS): bounds the memory of expanding it.
MAX_FRAMES = 1_000_000


def read_action_file(path: str | Path, schema: ActionSchema) -> list[int]:
    """The action ids of an action file, one per frame (segments expanded)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: action file not found")
    segments = _read_yaml(path) if path.suffix in (".yaml", ".yml", ".json") else _read_text(path)
    ids: list[int] = []
    for line, action, frames in segments:
        try:
            a = schema.index(action)
        except InvalidAction as e:
            raise InvalidAction(f"{path}:{line}: {e}") from None
        if frames < 0:
            raise ConfigError(f"{path}:{line}: frame count must be >= 0, got {frames}")
        if len(ids) + frames > MAX_FRAMES:
            raise ConfigError(
                f"{path}:{line}: the file asks for more than {MAX_FRAMES:,} frames in all (a day at 30 FPS is "
                "2.6 million); split it or lower the counts"
            )
        ids += [a] * frames
    if not ids:
        raise ConfigError(f"{path}: no actions; write one action per line, e.g. 'gas,40'")
    return ids


def _read_text(path: Path) -> list[tuple[int, str, int]]:
    out = []
    for n, raw in enumerate(safe_yaml.read_text(path).splitlines(), start=1):
        text = raw.split("#", 1)[0].strip()
        if not text or text.replace(" ", "").lower() == "action,frames":
            continue
        parts = _SPLIT.split(text)
        if len(parts) > 2:
            raise ConfigError(f"{path}:{n}: expected ACTION or ACTION,FRAMES, got {raw.strip()!r}")
        out.append((n, parts[0], _frames(parts[1] if len(parts) == 2 else 1, path, n)))
    return out


def _read_yaml(path: Path) -> list[tuple[int, str, int]]:
    root = safe_yaml.compose(safe_yaml.read_text(path), path)
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise ConfigError(f"{path}: the top level must be a list of actions, e.g. [gas, {{gas_left: 12}}]")
    out = []
    for node in root.value:
        line = node.start_mark.line + 1
        item: Any = yaml.safe_load(yaml.serialize(node))
        if isinstance(item, dict) and "action" in item:
            unknown = set(item) - {"action", "frames"}
            if unknown:
                raise ConfigError(f"{path}:{line}: unknown keys {sorted(unknown)}; use action and frames")
            out.append((line, str(item["action"]), _frames(item.get("frames", 1), path, line)))
        elif isinstance(item, dict) and len(item) == 1:
            ((action, frames),) = item.items()
            out.append((line, str(action), _frames(frames, path, line)))
        elif isinstance(item, str | int) and not isinstance(item, bool):
            out.append((line, str(item), 1))
        else:
            raise ConfigError(f"{path}:{line}: expected an action name, {{NAME: FRAMES}} or {{action, frames}}")
    return out


def _frames(value: Any, path: Path, line: int) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{path}:{line}: frame count {value!r} is not a whole number") from None
