"""``toy``: a tiny procedurally rendered world of our own (numpy only, thousands of steps per second).

The player (white square) moves on a checkered floor, collects coins (yellow, +1) and must avoid a
bouncing hazard (red, contact ends the episode with -1). Every action has a visible effect, and there is
a reward and a termination to learn, so the whole pipeline can be tested on it in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from worldsim.actions import Action, ActionSchema
from worldsim.sources.base import World, WorldConfig

_ARENA = 64  # internal render size; frames are resized to the configured resolution
_PLAYER, _COIN, _HAZARD = 6, 4, 6
_MOVES = {0: (0, 0), 1: (0, -1), 2: (0, 1), 3: (-1, 0), 4: (1, 0)}


@dataclass(frozen=True)
class ToyConfig(WorldConfig):
    """Toy world settings.

    Attributes:
        speed: Player speed in arena pixels per step.
        hazard_speed: Hazard speed in arena pixels per step (0 = no hazard movement).
    """

    speed: float = 2.0
    hazard_speed: float = 1.5
    max_episode_steps: int = 500


class ToyWorld(World):
    """Collect coins, avoid the hazard. See the module docstring."""

    name = "toy"
    Config = ToyConfig
    fps = 30.0
    schema = ActionSchema(
        world="toy",
        version=1,
        actions=(
            Action("noop", (), "stand still"),
            Action("up", (("up",), ("w",)), "move up"),
            Action("down", (("down",), ("s",)), "move down"),
            Action("left", (("left",), ("a",)), "move left"),
            Action("right", (("right",), ("d",)), "move right"),
        ),
    )

    def __init__(self, config: ToyConfig | None = None) -> None:
        super().__init__(config)
        self._rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:_ARENA, 0:_ARENA]
        checker = ((yy // 8 + xx // 8) % 2).astype(np.uint8)
        self._floor = np.stack([40 + 20 * checker, 60 + 25 * checker, 90 + 10 * checker], -1).astype(np.uint8)
        self.player = np.zeros(2)
        self.coin = np.zeros(2)
        self.hazard = np.zeros(2)
        self.hazard_vel = np.zeros(2)

    def _spawn(self, size: int, away_from: np.ndarray | None = None) -> np.ndarray:
        for _ in range(100):
            pos = self._rng.uniform(0, _ARENA - size, size=2)
            if away_from is None or np.abs(pos - away_from).max() > 16:
                return pos
        return pos

    def _reset(self, seed: int | None) -> np.ndarray:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.player = self._spawn(_PLAYER)
        self.coin = self._spawn(_COIN, self.player)
        self.hazard = self._spawn(_HAZARD, self.player)
        angle = self._rng.uniform(0, 2 * np.pi)
        self.hazard_vel = self.config.hazard_speed * np.array([np.cos(angle), np.sin(angle)])
        return self._render()

    def _step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        dx, dy = _MOVES[action]
        self.player = np.clip(self.player + self.config.speed * np.array([dx, dy]), 0, _ARENA - _PLAYER)
        self.hazard = self.hazard + self.hazard_vel
        for axis in range(2):  # bounce off the walls
            if not 0 <= self.hazard[axis] <= _ARENA - _HAZARD:
                self.hazard_vel[axis] *= -1
                self.hazard[axis] = np.clip(self.hazard[axis], 0, _ARENA - _HAZARD)
        reward, terminated = 0.0, False
        if _overlap(self.player, _PLAYER, self.coin, _COIN):
            reward += 1.0
            self.coin = self._spawn(_COIN, self.player)
        if _overlap(self.player, _PLAYER, self.hazard, _HAZARD):
            reward, terminated = -1.0, True
        return self._render(), reward, terminated, False, {}

    def _render(self) -> np.ndarray:
        frame = self._floor.copy()
        _box(frame, self.coin, _COIN, (250, 210, 40))
        _box(frame, self.hazard, _HAZARD, (220, 40, 40))
        _box(frame, self.player, _PLAYER, (245, 245, 245))
        return frame


def _overlap(a: np.ndarray, sa: int, b: np.ndarray, sb: int) -> bool:
    return bool(np.all(a < b + sb) and np.all(b < a + sa))


def _box(frame: np.ndarray, pos: np.ndarray, size: int, color: tuple[int, int, int]) -> None:
    x, y = int(round(pos[0])), int(round(pos[1]))
    frame[y : y + size, x : x + size] = color
