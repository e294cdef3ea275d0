"""``carracing``: gymnasium's CarRacing-v3 (Box2D) with a keyboard-style discrete action set.

The simulator is continuous; players and data policies use seven discrete actions mapped to fixed
(steer, gas, brake) vectors. The 96x96 observation (track plus the speed/ABS/steering bar) is resized
to the model resolution. The opening zoom-in animation is skipped so episodes start with the car ready.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.envs.box2d.car_racing import STATE_H, STATE_W, CarRacing

from worldsim.actions import Action, ActionSchema
from worldsim.probes.carracing import on_road, road_ahead
from worldsim.sources.base import World, WorldConfig

_STEER, _GAS, _BRAKE = 0.7, 0.5, 0.8
#: (steer, gas, brake) per action id; part of schema version 1.
CONTROLS = np.array(
    [
        [0.0, 0.0, 0.0],  # noop
        [-_STEER, 0.0, 0.0],  # left
        [_STEER, 0.0, 0.0],  # right
        [0.0, _GAS, 0.0],  # gas
        [0.0, 0.0, _BRAKE],  # brake
        [-_STEER, _GAS, 0.0],  # gas_left
        [_STEER, _GAS, 0.0],  # gas_right
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class CarRacingConfig(WorldConfig):
    """CarRacing settings.

    Attributes:
        action_repeat: Physics steps (50 Hz) per adapter step.
        skip_zoom: Skip the 50-frame zoom-in animation at the start of each episode.
        domain_randomize: Gymnasium's random track/grass colours.
    """

    action_repeat: int = 2
    skip_zoom: bool = True
    domain_randomize: bool = False
    max_episode_steps: int = 500

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {self.action_repeat}")


#: Share of road in the stretch ahead of the car a start state needs (a straight road fills about 0.4 of it).
GOOD_START_ROAD_AHEAD = 0.2


class CarRacingWorld(World):
    """Top-down racing on a random track; reward for visiting track tiles, -0.1 per frame."""

    name = "carracing"
    Config = CarRacingConfig
    fps = 25.0
    schema = ActionSchema(
        world="carracing",
        version=1,
        actions=(
            Action("noop", (), "coast"),
            Action("left", (("left",), ("a",)), "steer left"),
            Action("right", (("right",), ("d",)), "steer right"),
            Action("gas", (("up",), ("w",)), "accelerate"),
            Action("brake", (("down",), ("s",), ("space",)), "brake"),
            Action("gas_left", (("up", "left"), ("w", "a")), "accelerate and steer left"),
            Action("gas_right", (("up", "right"), ("w", "d")), "accelerate and steer right"),
        ),
    )

    def __init__(self, config: CarRacingConfig | None = None) -> None:
        super().__init__(config)
        self.config: CarRacingConfig
        self.fps = 50.0 / self.config.action_repeat
        # The class itself, not gym.make: no TimeLimit wrapper, episode length is ours to set.
        self._env = CarRacing(continuous=True, domain_randomize=self.config.domain_randomize)

    @classmethod
    def good_start(cls, frame: np.ndarray) -> bool:
        """The car is on the road and the road goes on ahead (not a car on plain grass, as 31 of 200 were)."""
        return bool(on_road(frame)) and float(road_ahead(frame)) >= GOOD_START_ROAD_AHEAD

    @property
    def unwrapped(self) -> Any:
        """The gymnasium ``CarRacing`` instance (track, car body) for the scripted driver."""
        return self._env.unwrapped

    def _reset(self, seed: int | None) -> np.ndarray:
        obs, _ = self._env.reset(seed=seed)
        if self.config.skip_zoom:
            for _ in range(50):
                obs, *_ = self._env.step(CONTROLS[0])
        return obs

    def _step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        total, terminated, truncated = 0.0, False, False
        for _ in range(self.config.action_repeat):
            obs, reward, terminated, truncated, _ = self._env.step(CONTROLS[action])
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, {}

    @contextmanager
    def frames_off(self) -> Iterator[None]:
        """Skip drawing (97% of a step's time): the picture depends only on the physics state, drawn when back on."""
        env = self._env.unwrapped
        blank = np.zeros((STATE_H, STATE_W, 3), np.uint8)
        env._render = lambda *args, **kwargs: blank  # an instance attribute shadows the method
        try:
            yield
        finally:
            del env._render

    def close(self) -> None:
        """Close the Box2D world and its pygame surfaces."""
        if self._env is not None:
            self._env.close()
            self._env = None
