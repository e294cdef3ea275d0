"""The one interface every source world implements, and the registry of worlds.

A *world* is a real simulator (or our procedural ``toy``) seen through an adapter: discrete actions
from an :class:`~worldsim.actions.ActionSchema`, RGB uint8 frames at the model resolution, rewards and
episode ends. Collection, import, the learned environment and the play window all speak this interface,
so worlds differ by adapter and config, never by copied pipeline code.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, ClassVar, NamedTuple

import cv2
import numpy as np

from worldsim.actions import ActionSchema
from worldsim.config import from_dict
from worldsim.errors import DependencyNotInstalled, unknown_name


@dataclass(frozen=True)
class WorldConfig:
    """Settings shared by every world; adapters subclass this with their own fields.

    Attributes:
        height: Frame height in pixels at model resolution.
        width: Frame width in pixels at model resolution.
        max_episode_steps: Episodes are truncated after this many steps (0 = the simulator's own limit).
    """

    height: int = 64
    width: int = 64
    max_episode_steps: int = 1000

    def __post_init__(self) -> None:
        if self.height < 8 or self.width < 8:
            raise ValueError(f"resolution {self.height}x{self.width} is too small; use at least 8x8")
        if self.max_episode_steps < 0:
            raise ValueError(f"max_episode_steps must be >= 0, got {self.max_episode_steps}")


class Step(NamedTuple):
    """What :meth:`World.step` returns."""

    frame: np.ndarray
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class World(ABC):
    """Adapter base class: subclasses implement :meth:`_reset` and :meth:`_step` on raw frames.

    The base class validates actions, resizes frames to the configured resolution, counts steps and
    truncates at ``max_episode_steps``.
    """

    name: ClassVar[str]
    schema: ClassVar[ActionSchema]
    Config: ClassVar[type[WorldConfig]] = WorldConfig
    #: Simulated steps per second of one adapter step; the play window paces real time with it.
    fps: ClassVar[float] = 30.0

    def __init__(self, config: WorldConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self.steps = 0

    @property
    def resolution(self) -> tuple[int, int]:
        """``(height, width)`` of the frames this world returns."""
        return self.config.height, self.config.width

    @property
    def unwrapped(self) -> Any:
        """The underlying simulator object, for scripted policies that read privileged state."""
        return self

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start a new episode; the same ``seed`` gives the same episode. Returns the first frame."""
        self.steps = 0
        return self._resize(self._reset(seed))

    def step(self, action: int | str) -> Step:
        """Apply one action (id or name) and return the next frame, reward and episode flags."""
        a = self.schema.index(action)
        frame, reward, terminated, truncated, info = self._step(a)
        self.steps += 1
        limit = self.config.max_episode_steps
        truncated = bool(truncated or (limit > 0 and self.steps >= limit)) and not terminated
        return Step(self._resize(frame), float(reward), bool(terminated), truncated, info)

    def close(self) -> None:  # noqa: B027 - optional hook, most adapters have something to release
        """Release simulator resources; safe to call twice."""

    def frames_off(self) -> AbstractContextManager[None]:
        """Within this context frames may be stale: adapters that can skip drawing do (a replay needs the last only)."""
        return nullcontext()

    @classmethod
    def good_start(cls, frame: np.ndarray) -> bool:
        """Whether a recorded ``frame`` makes a start state to begin play, an env episode or a rollout from.

        ``scripts/package_world.py`` keeps only such starts; worlds with no preference accept every frame.
        """
        return True

    def frame_labels(self) -> np.ndarray | None:
        """What the simulator says the current frame shows, recorded beside it (None: this world has no labels).

        ``(K, 5)`` float32 rows ``[kind, x0, y0, x1, y1]``: kind 0 is an empty row, the box is in model-resolution
        pixels. Probes that read frames are checked against these (e.g. :mod:`worldsim.probes.doom`).
        """
        return None

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        h, w = self.resolution
        frame = np.asarray(frame)
        if frame.shape[:2] != (h, w):
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(frame, dtype=np.uint8)

    @abstractmethod
    def _reset(self, seed: int | None) -> np.ndarray:
        """Reset the simulator and return its raw RGB frame (any size)."""

    @abstractmethod
    def _step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply a valid action id; return raw frame, reward, terminated, truncated, info."""


@dataclass(frozen=True)
class WorldEntry:
    """Registry entry: where the adapter lives and what to show in ``worldsim worlds``."""

    name: str
    entry_point: str
    simulator: str
    description: str
    requires: str = ""


WORLDS: dict[str, WorldEntry] = {}


def register(entry: WorldEntry) -> None:
    """Add a world to the registry (used by :mod:`envs` for the built-in worlds)."""
    WORLDS[entry.name] = entry


def world_class(name: str) -> type[World]:
    """Import and return the adapter class of a registered world."""
    if name not in WORLDS:
        raise unknown_name("world", name, WORLDS)
    entry = WORLDS[name]
    module_name, _, attr = entry.entry_point.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        if (e.name or "").split(".")[0] in ("envs", "policies", "worldsim"):
            raise  # our own bug, not a missing dependency
        raise DependencyNotInstalled(
            f"world {name!r} needs {entry.requires or e.name}: {e}. Install it with: pip install -e ."
        ) from None
    return getattr(module, attr)


def make_config(name: str, options: dict[str, Any] | None = None) -> WorldConfig:
    """Build the typed config of world ``name`` from plain options (unknown keys are rejected)."""
    cls = world_class(name)
    return from_dict(cls.Config, dict(options or {}), where=f"world {name!r} options")


def make_world(name: str, config: WorldConfig | dict[str, Any] | None = None, **options: Any) -> World:
    """Create world ``name``; ``config`` and keyword ``options`` set its :class:`WorldConfig` fields.

    >>> world = make_world("toy", height=32, width=32)
    >>> world.reset(seed=0).shape
    (32, 32, 3)
    """
    cls = world_class(name)
    if isinstance(config, WorldConfig):
        cfg = replace(config, **options) if options else config
    else:
        cfg = make_config(name, {**(config or {}), **options})
    return cls(cfg)
