"""The pane beside the generated view: the real simulator driven by the same actions, or a recording.

A shipped start state records the simulator seed and the actions that led to it, so the real simulator is put
into that very state (reset with the seed, actions replayed, the frame checked): both panes start from the same
moment and then run under the same keys. Where a start has no recorded origin (imported videos, older files)
or the replay misses, the real simulator starts from its own reset and the HUD says so. When a recorded
episode is replayed, the pane shows the recorded frames instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from worldsim.actions import ActionSchema
from worldsim.starts import StartStates

log = logging.getLogger(__name__)


def real_world_name(schema: ActionSchema) -> str | None:
    """The registered real simulator with exactly this action schema, if there is one."""
    from worldsim.errors import DependencyNotInstalled
    from worldsim.sources import WORLDS, world_class

    if schema.world not in WORLDS:
        return None
    try:
        cls = world_class(schema.world)
    except DependencyNotInstalled as e:
        log.warning("real simulator unavailable: %s", e)
        return None
    return schema.world if cls.schema.fingerprint == schema.fingerprint else None


@dataclass
class RefStep:
    """One step of the reference pane."""

    frame: np.ndarray
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False

    @property
    def done(self) -> bool:
        """The episode ended (the reference restarted)."""
        return self.terminated or self.truncated


class RealReference:
    """A real simulator (``worldsim.sources.make_world``) stepped with the learned world's actions; restarts when done.

    Args:
        name: Registered world name.
        resolution: ``(H, W)`` of the learned world (the simulator renders at the same size).
        seed: Seed of its first episode (later episodes use ``seed + 1``, ``seed + 2``, ...).
    """

    label = "real simulator"

    def __init__(self, name: str, resolution: tuple[int, int], seed: int = 0, starts: StartStates | None = None):
        from worldsim.sources import make_world
        from worldsim.sources.replay import open_start_world

        if starts is not None and starts.origins is not None:
            self.world = open_start_world(name, starts, resolution)
        else:
            self.world = make_world(name, height=resolution[0], width=resolution[1])
        self.starts = starts
        self.seed, self.episode_return = seed, 0.0
        self.frame = self.reset(seed)

    def reset(self, seed: int) -> np.ndarray:
        """Start a new episode from the simulator's own reset."""
        self.seed, self.episode_return, self.label = seed, 0.0, "real simulator"
        self.frame = self.world.reset(seed=seed)
        return self.frame

    def reset_to_start(self, index: int, seed: int) -> str | None:
        """Put the simulator into start state ``index``; return why not (then it starts from its own reset)."""
        from worldsim.sources.replay import reach_start

        frame, why = (None, "no start states") if self.starts is None else reach_start(self.world, self.starts, index)
        if frame is None or why is not None:
            self.reset(seed)
            self.label = "real simulator (own start)"
            return why
        self.seed, self.episode_return, self.label = seed, 0.0, "real simulator (same start)"
        self.frame = frame
        return None

    def step(self, action: int) -> RefStep:
        """Apply ``action``; a finished episode restarts with the next seed (``done`` is set)."""
        s = self.world.step(action)
        self.episode_return += s.reward
        self.frame = self.reset(self.seed + 1) if s.terminated or s.truncated else s.frame
        return RefStep(s.frame, s.reward, s.terminated, s.truncated)

    def close(self) -> None:
        """Release the simulator."""
        self.world.close()


class RecordingReference:
    """The recorded frames of a replayed episode, advanced one per step (the last one stays)."""

    label = "recording"

    def __init__(self, frames: np.ndarray, first: np.ndarray) -> None:
        self.frames, self.first, self.index = frames, first, 0
        self.frame = first
        self.world: Any = None

    def reset(self, seed: int) -> np.ndarray:
        """Back to the start of the recording."""
        self.index, self.frame = 0, self.first
        return self.frame

    def step(self, action: int) -> RefStep:
        """The next recorded frame (the action is the recorded one, so it is not used)."""
        if self.index < len(self.frames):
            self.frame = self.frames[self.index]
            self.index += 1
        return RefStep(self.frame)

    def close(self) -> None:
        """Nothing to release."""
