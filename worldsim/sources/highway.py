"""``highway``: highway-env traffic scenes (highway, merge, roundabout, intersection), seen from above.

Every scenario uses highway-env's ``DiscreteMetaAction`` with both lateral and longitudinal meta-actions,
so all four share one action schema: keep going, change lane left/right, speed up, slow down. The ego car
(green) is followed by a small square top-down camera; frames come from highway-env's offscreen pygame
renderer and are resized to the model resolution. One adapter step is one highway-env decision step
(``simulation_frequency / policy_frequency`` physics steps).

Episodes end (``terminated``) when the ego crashes, when highway-env ends the scenario itself (the merge
ramp is passed, the intersection exit is reached), when the ego has left the roundabout and driven
:data:`EXIT_DISTANCE` metres down an exit road, or when it drives off the end of the mapped road: after
that there would be nothing left to see but an empty road.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium
import highway_env  # noqa: F401  (importing registers the highway-env ids with gymnasium)
import numpy as np
import pygame
from gymnasium.envs.registration import load_env_creator
from highway_env import utils as highway_utils
from highway_env.envs.common.graphics import EnvViewer
from highway_env.vehicle.behavior import IDMVehicle

from worldsim.actions import Action, ActionSchema
from worldsim.sources.base import World, WorldConfig

#: Scenario name -> gymnasium id. The ``ConnectedLane`` versions (merge-v1, roundabout-v1,
#: intersection-v2) find neighbours across lane-segment boundaries, which the scripted driver relies on.
#: ``highway-fast-v0`` (3 lanes, 20 cars, no collision checks among the traffic) steps about 5x faster
#: than ``highway-v0`` (4 lanes, 50 cars); ``vehicles_count`` and ``env_config`` can bring those back.
SCENARIOS: dict[str, str] = {
    "highway": "highway-fast-v0",
    "merge": "merge-v1",
    "roundabout": "roundabout-v1",
    "intersection": "intersection-v2",
}

#: Metres down a dead-end exit road after which the roundabout counts as done (it is then out of view;
#: highway-env's intersection uses 25 m the same way). The highway and merge roads are dead ends too, so
#: only the roundabout uses this.
EXIT_DISTANCE: dict[str, float] = {"roundabout": 30.0}

#: Class attributes of the traffic's driver model that highway-env's intersection sets on the class itself when it
#: resets (``IDMVehicle.DISTANCE_WANTED = 7`` ...), so they leak into every later world in the process: after one
#: intersection episode a highway seed no longer replays the traffic it recorded.
SHARED_DRIVER_FIELDS: tuple[str, ...] = ("DISTANCE_WANTED", "COMFORT_ACC_MAX", "COMFORT_ACC_MIN")

#: Each driver class's values before any world changed them: highway-env's default one at import, others when a
#: world first uses them.
_PRISTINE_DRIVER: dict[type, dict[str, Any]] = {
    IDMVehicle: {name: getattr(IDMVehicle, name) for name in SHARED_DRIVER_FIELDS}
}

#: highway-env meta-action names in our action-id order (noop, lane_left, lane_right, faster, slower).
META_ACTIONS: tuple[str, ...] = ("IDLE", "LANE_LEFT", "LANE_RIGHT", "FASTER", "SLOWER")


@dataclass(frozen=True)
class HighwayConfig(WorldConfig):
    """highway-env settings.

    Attributes:
        scenario: One of ``highway``, ``merge``, ``roundabout``, ``intersection``.
        policy_frequency: Decisions (adapter steps) per simulated second; also the world's ``fps``.
        simulation_frequency: Physics steps per simulated second (a multiple of ``policy_frequency``).
        render_size: Side of the square internal render in pixels (then resized to ``height`` x ``width``).
        render_scale: Pixels per metre at ``render_size``; the view spans ``render_size / render_scale``
            metres (about 43 m by default), centred on the ego car.
        vehicles_count: Number of other cars on the highway scenario (0 = highway-env's default, 20).
        vehicles_density: Traffic density on the highway scenario (highway-env's ``vehicles_density``).
        target_speeds: Cruise speeds (m/s) that ``faster``/``slower`` step through; empty = the
            scenario's own (highway and merge 20/25/30, roundabout 0/8/16, intersection 0/4.5/9).
        env_config: Extra highway-env config keys, applied last (e.g. ``{"lanes_count": 4}``).
    """

    scenario: str = "highway"
    policy_frequency: int = 5
    simulation_frequency: int = 15
    render_size: int = 128
    render_scale: float = 3.0
    vehicles_count: int = 0
    vehicles_density: float = 1.0
    target_speeds: tuple[float, ...] = ()
    env_config: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int = 200

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scenario not in SCENARIOS:
            raise ValueError(
                f"unknown highway scenario {self.scenario!r}; valid scenarios: {', '.join(sorted(SCENARIOS))}"
            )
        if self.policy_frequency < 1:
            raise ValueError(f"policy_frequency must be >= 1, got {self.policy_frequency}")
        if self.simulation_frequency % self.policy_frequency != 0:
            # highway-env runs int(simulation / policy) physics steps per decision; anything else
            # would silently change the simulated time per step.
            raise ValueError(
                f"simulation_frequency ({self.simulation_frequency}) must be a positive multiple of "
                f"policy_frequency ({self.policy_frequency})"
            )
        if self.simulation_frequency < 1:
            raise ValueError(f"simulation_frequency must be >= 1, got {self.simulation_frequency}")
        if self.render_size < 8:
            raise ValueError(f"render_size must be >= 8, got {self.render_size}")
        if self.render_scale <= 0:
            raise ValueError(f"render_scale must be > 0, got {self.render_scale}")
        if self.vehicles_count < 0:
            raise ValueError(f"vehicles_count must be >= 0, got {self.vehicles_count}")
        speeds = list(self.target_speeds)
        if speeds and (speeds != sorted(set(speeds)) or speeds[0] < 0):
            raise ValueError(f"target_speeds must be distinct, increasing and >= 0, got {self.target_speeds}")
        if self.vehicles_density <= 0:
            raise ValueError(f"vehicles_density must be > 0, got {self.vehicles_density}")


class HighwayWorld(World):
    """Top-down traffic driving in one of highway-env's scenarios. See the module docstring."""

    name = "highway"
    Config = HighwayConfig
    fps = 5.0
    schema = ActionSchema(
        world="highway",
        version=1,
        actions=(
            Action("noop", (), "keep lane and speed"),
            Action("lane_left", (("left",), ("a",)), "change to the lane on the left"),
            Action("lane_right", (("right",), ("d",)), "change to the lane on the right"),
            Action("faster", (("up",), ("w",)), "raise the cruise speed one step"),
            Action("slower", (("down",), ("s",)), "lower the cruise speed one step"),
        ),
    )

    def __init__(self, config: HighwayConfig | None = None) -> None:
        super().__init__(config)
        self.config: HighwayConfig
        self.fps = float(self.config.policy_frequency)
        env_id = SCENARIOS[self.config.scenario]
        # We step and render env.unwrapped directly, so no wrapper applies: neither a TimeLimit (our
        # max_episode_steps is the only limit) nor gymnasium's per-step checkers (pure overhead here).
        self._env: gymnasium.Env | None = gymnasium.make(
            env_id, render_mode="rgb_array", config=self._env_config(env_id)
        )
        # Map our ids onto highway-env's action indices by name; the index order is highway-env's business.
        indexes = self.unwrapped.action_type.actions_indexes
        self._action_index = [int(indexes[name]) for name in META_ACTIONS]
        self._driver_class = highway_utils.class_from_path(self.unwrapped.config["other_vehicles_type"])
        _PRISTINE_DRIVER.setdefault(
            self._driver_class, {name: getattr(self._driver_class, name) for name in SHARED_DRIVER_FIELDS}
        )
        self._driver: dict[str, Any] = {}

    def _env_config(self, env_id: str) -> dict[str, Any]:
        cfg = self.config
        defaults = load_env_creator(gymnasium.spec(env_id).entry_point).default_config()
        # configure() replaces top-level keys wholesale, so start from the scenario's own action config
        # to keep its target speeds (roundabout 0/8/16 m/s, intersection 0/4.5/9 m/s).
        action = dict(defaults["action"], type="DiscreteMetaAction", longitudinal=True, lateral=True)
        if cfg.target_speeds:
            action["target_speeds"] = list(cfg.target_speeds)
        steps = cfg.max_episode_steps if cfg.max_episode_steps > 0 else 10_000
        out: dict[str, Any] = {
            "action": action,
            # We render our own frames; the cheapest observation avoids highway-env's pandas-based
            # kinematics table on every step.
            "observation": {"type": "AttributesObservation", "attributes": ["time"]},
            "policy_frequency": cfg.policy_frequency,
            "simulation_frequency": cfg.simulation_frequency,
            # highway-env's own time limit must never cut an episode before ours does.
            "duration": 2 * steps / cfg.policy_frequency + 10,
            "screen_width": cfg.render_size,
            "screen_height": cfg.render_size,
            "scaling": cfg.render_scale,
            "centering_position": [0.5, 0.5],
            "offscreen_rendering": True,
            "render_agent": True,
            "show_trajectories": False,
            "real_time_rendering": False,
        }
        if self.config.scenario == "highway":
            out["vehicles_density"] = cfg.vehicles_density
            if cfg.vehicles_count > 0:
                out["vehicles_count"] = cfg.vehicles_count
        if self.config.scenario == "intersection":
            # A random exit (left, straight, right) per episode instead of always the same turn.
            out["destination"] = None
        out.update(cfg.env_config)
        return out

    @property
    def unwrapped(self) -> Any:
        """The highway-env environment (``.vehicle``, ``.road``) for the scripted driver."""
        if self._env is None:
            raise RuntimeError("the highway world is closed")
        return self._env.unwrapped

    def _frame(self) -> np.ndarray:
        sim = self.unwrapped
        if sim.viewer is None:
            # EnvViewer renames the pygame window; keep the caption of a play window that may be open.
            caption = pygame.display.get_caption() if pygame.display.get_init() else None
            sim.viewer = EnvViewer(sim)
            if caption:
                pygame.display.set_caption(*caption)
            # highway-env stops drawing when SDL_VIDEODRIVER=dummy (usual on headless machines and in
            # tests) and would return blank frames; we only draw to an offscreen surface, which works
            # with any video driver.
            sim.viewer.enabled = True
        return np.ascontiguousarray(sim.render())

    def _reset(self, seed: int | None) -> np.ndarray:
        driver = self._driver_class
        for name, value in _PRISTINE_DRIVER[driver].items():
            setattr(driver, name, value)  # whatever another world left; this scenario's reset may set its own
        self.unwrapped.reset(seed=seed)
        self._driver = {name: getattr(driver, name) for name in SHARED_DRIVER_FIELDS}
        return self._frame()

    def _step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        sim = self.unwrapped
        # Once a viewer exists highway-env also draws every intermediate physics step, which we never
        # see; that would triple the rendering cost.
        sim.enable_auto_render = False
        for name, value in self._driver.items():  # another world in this process may have stepped in between
            setattr(self._driver_class, name, value)
        _, reward, terminated, truncated, _ = sim.step(self._action_index[action])
        ego = sim.vehicle
        crashed = bool(ego.crashed)
        done = self._scene_done()
        info = {"crashed": crashed, "scene_done": done, "speed": float(ego.speed)}
        return self._frame(), float(reward), bool(terminated or crashed or done), bool(truncated), info

    def _scene_done(self) -> bool:
        """Whether the ego is far enough down a lane that leads nowhere (see :data:`EXIT_DISTANCE`)."""
        sim = self.unwrapped
        ego = sim.vehicle
        network = sim.road.network
        if network.graph.get(ego.lane_index[1]):
            return False
        lane = network.get_lane(ego.lane_index)
        limit = min(lane.length, EXIT_DISTANCE.get(self.config.scenario, lane.length))
        return bool(lane.local_coordinates(ego.position)[0] > limit)

    def close(self) -> None:
        """Close highway-env; pygame itself stays initialised for other users in the process."""
        if self._env is not None:
            sim = self._env.unwrapped
            # EnvViewer.close() calls pygame.quit(), which would also tear down a play window or another
            # world's renderer in this process; dropping the viewer frees its surfaces just the same.
            sim.viewer = None
            self._env.close()
            self._env = None
