"""Action schemas: the named, discrete actions of a world and their default key bindings.

A schema travels with every dataset and checkpoint so that a file alone says what its action ids mean.
Its ``fingerprint`` changes whenever the meaning of an id could change (names, order, version), so data
and models recorded under different schemas are never silently mixed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worldsim.errors import InvalidAction, unknown_name


@dataclass(frozen=True)
class Action:
    """One discrete action.

    Attributes:
        name: Identifier used in files and on the command line, e.g. ``"gas_left"``.
        keys: Default key bindings. Each binding is a chord: a tuple of pygame key names that must all be
            held (``("up", "left")``). An action may have several bindings (arrows and WASD).
        description: Human-readable meaning, shown in help overlays.
    """

    name: str
    keys: tuple[tuple[str, ...], ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ActionSchema:
    """The ordered action set of a world; action ``i`` is ``actions[i]``.

    Attributes:
        world: Name of the world the schema belongs to.
        version: Bumped whenever an action's effect in the simulator changes.
        actions: The actions, in id order. Id 0 is the "no input" action by convention.
    """

    world: str
    version: int
    actions: tuple[Action, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [a.name for a in self.actions]
        if not names:  # InvalidAction is a ValueError too: one clean line at the CLI, the same type for callers
            raise InvalidAction(f"action schema of {self.world!r} has no actions")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise InvalidAction(
                f"action schema of {self.world!r} names {dup} more than once; give each action one name"
            )

    def __len__(self) -> int:
        return len(self.actions)

    @property
    def names(self) -> list[str]:
        """Action names in id order."""
        return [a.name for a in self.actions]

    @property
    def fingerprint(self) -> str:
        """Short hash of world, version and names: equal fingerprints mean equal action ids."""
        payload = json.dumps([self.world, self.version, self.names]).encode()
        return hashlib.sha256(payload).hexdigest()[:12]

    def index(self, action: int | str) -> int:
        """Return the id of ``action`` given as an id or a name; raise :class:`InvalidAction` otherwise."""
        if isinstance(action, str):
            if action in self.names:
                return self.names.index(action)
            if action.strip().lstrip("-").isdigit():
                return self.index(int(action))
            err = unknown_name(f"action for world {self.world!r}", action, self.names)
            raise InvalidAction(str(err))
        if isinstance(action, bool) or not hasattr(action, "__index__"):
            raise InvalidAction(f"action {action!r} for world {self.world!r} must be an int id or a name")
        i = int(action)
        if not 0 <= i < len(self.actions):
            raise InvalidAction(
                f"action id {i} is out of range for world {self.world!r}: valid ids are 0..{len(self) - 1} "
                f"({', '.join(f'{j}={n}' for j, n in enumerate(self.names))})"
            )
        return i

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, stored in dataset and checkpoint metadata."""
        return {
            "world": self.world,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "actions": [
                {"name": a.name, "keys": [list(k) for k in a.keys], "description": a.description} for a in self.actions
            ],
        }

    def to_json(self) -> str:
        """Compact JSON form of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionSchema:
        """Inverse of :meth:`to_dict`; checks the stored fingerprint if present."""
        schema = cls(
            world=str(d["world"]),
            version=int(d["version"]),
            actions=tuple(
                Action(
                    name=str(a["name"]),
                    keys=tuple(tuple(str(k) for k in chord) for chord in a.get("keys", [])),
                    description=str(a.get("description", "")),
                )
                for a in d["actions"]
            ),
        )
        stored = d.get("fingerprint")
        if stored is not None and stored != schema.fingerprint:
            raise ValueError(f"action schema fingerprint mismatch: stored {stored}, computed {schema.fingerprint}")
        return schema

    @classmethod
    def from_json(cls, text: str) -> ActionSchema:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_names(cls, world: str, names: Sequence[str], version: int = 1) -> ActionSchema:
        """A schema with the given action names and no key bindings (for imported recordings)."""
        return cls(world=world, version=version, actions=tuple(Action(n) for n in names))


def action_stream(n: int, num_actions: int, hold_mean: int, seed: int) -> np.ndarray:
    """Actions held for random durations (uniform 1 .. 2*hold_mean - 1), like a player holding keys."""
    rng = np.random.default_rng(seed)
    out: list[int] = []
    while len(out) < n:
        out += [int(rng.integers(num_actions))] * int(rng.integers(1, 2 * hold_mean))
    return np.array(out[:n])
