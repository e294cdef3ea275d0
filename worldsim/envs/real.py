"""``WorldSimReal-v0``: a real source world with exactly the spaces of its learned twin ``WorldSim-v0``.

An agent trained inside a learned world is evaluated here, in the simulator the world was learned from:
the same ``Box(0, 255, (H, W, 3), uint8)`` frames at the model resolution and the same ``Discrete`` action
schema, with the real reward and episode ends.

>>> import gymnasium as gym, worldsim
>>> env = gym.make("WorldSimReal-v0", world="toy")
>>> obs, info = env.reset(seed=0)
>>> obs.shape, env.action_space
((64, 64, 3), Discrete(5))
>>> obs, reward, terminated, truncated, info = env.step(4)
>>> env.close()
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from worldsim.errors import InvalidAction
from worldsim.sources.base import make_world


class RealWorldEnv(gym.Env[np.ndarray, np.int64]):
    """A registered source world (``worldsim.sources.make_world``) as a Gymnasium environment.

    Args:
        world: Source world name (``carracing``, ``highway``, ``doom``, ``breakout``, ``toy``).
        render_mode: ``rgb_array`` (the current frame) or None.
        **options: World options (e.g. ``scenario="merge"`` for highway, ``max_episode_steps``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, world: str = "carracing", render_mode: str | None = None, **options: Any) -> None:
        self.world = make_world(world, **options)
        h, w = self.world.resolution
        self.observation_space = spaces.Box(0, 255, (h, w, 3), np.uint8)
        self.action_space = spaces.Discrete(len(self.world.schema))
        self.metadata = {**self.metadata, "render_fps": self.world.fps}
        self.render_mode = render_mode
        self._frame: np.ndarray | None = None

    @property
    def action_names(self) -> list[str]:
        """Names of the actions, by id."""
        return self.world.schema.names

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the simulator; the world's own seed is drawn from ``np_random`` (same seed, same episode)."""
        super().reset(seed=seed)
        self._frame = self.world.reset(seed=int(self.np_random.integers(2**31 - 1)))
        return self._frame.copy(), {}

    def step(self, action: Any):
        """One step of the real simulator."""
        arr = np.asarray(action)
        if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.integer) or not 0 <= int(arr) < self.action_space.n:
            raise InvalidAction(
                f"action {action!r} is outside Discrete({self.action_space.n}): valid ids are "
                + ", ".join(f"{i}={n}" for i, n in enumerate(self.world.schema.names))
            )
        frame, reward, terminated, truncated, info = self.world.step(int(action))
        self._frame = frame
        return frame.copy(), float(reward), terminated, truncated, dict(info)

    def render(self) -> np.ndarray | None:
        """The current frame (``rgb_array``)."""
        return None if self._frame is None or self.render_mode != "rgb_array" else self._frame.copy()

    def close(self) -> None:
        """Close the simulator; safe to call twice."""
        if self.world is not None:
            self.world.close()
            self.world = None
