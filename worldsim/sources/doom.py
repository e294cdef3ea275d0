"""``doom``: first-person VizDoom scenarios behind one shared, keyboard-style discrete action set.

Every scenario is driven with the same fixed button list (:data:`BUTTONS`), so action ids mean the same
thing in every scenario and data from several scenarios can share one model. The default scenario,
``deathmatch``, is a large map of rooms and corridors with many kinds of monsters, weapons and pickups:
walking around shows varied scenery, there is combat, and a random policy survives about 20-30 seconds,
so episodes are long yet end in deaths the model can learn. The screen is rendered at 160x120 (the
smallest 4:3 mode, the fastest) and resized to the model resolution.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import vizdoom as vzd

from worldsim.actions import Action, ActionSchema
from worldsim.errors import unknown_name
from worldsim.sources.base import World, WorldConfig

#: Scenarios of ``vizdoom.scenarios_path`` that make sense with our action set, and what happens in them.
SCENARIOS: dict[str, str] = {
    "deathmatch": "large map with many monsters, weapons and pickups (default)",
    "defend_the_center": "round arena, enemies approach from all sides",
    "defend_the_line": "enemies approach from the far side of a room, endless respawns",
    "deadly_corridor": "corridor lined with shooters, armour at the far end; very lethal",
    "basic": "one stationary monster at the far wall; ends when it dies",
    "health_gathering": "acid floor, collect medkits to survive; no enemies",
    "my_way_home": "maze, find the armour vest; no enemies",
}

#: The buttons every scenario is driven with, in this order (a scenario's own button list is replaced).
BUTTONS: tuple[vzd.Button, ...] = (
    vzd.Button.MOVE_FORWARD,
    vzd.Button.MOVE_BACKWARD,
    vzd.Button.TURN_LEFT,
    vzd.Button.TURN_RIGHT,
    vzd.Button.MOVE_LEFT,
    vzd.Button.MOVE_RIGHT,
    vzd.Button.ATTACK,
)

#: Label kinds of :meth:`DoomWorld.frame_labels` by VizDoom object category (index 0: an empty row).
LABEL_KINDS: tuple[str, ...] = ("", "Monster", "Projectile")
#: Label rows kept per frame (the largest boxes).
MAX_LABELS = 8

#: Tics of the episode start played one by one with no keys, to settle state left by the last episode
#: (see ``DoomWorld._reset``): the weapon's bob eases out by about one unit per frame, from at most 16.
_SETTLE_TICS = 16
#: Episodes start this many tics into the level at the earliest (see ``DoomWorld._make_game``).
_MIN_START_TICS = _SETTLE_TICS


def _buttons(*pressed: vzd.Button) -> list[float]:
    return [1.0 if b in pressed else 0.0 for b in BUTTONS]


_B = vzd.Button
#: Button vector per action id; part of schema version 1.
CONTROLS: tuple[list[float], ...] = (
    _buttons(),  # noop
    _buttons(_B.MOVE_FORWARD),  # forward
    _buttons(_B.MOVE_BACKWARD),  # backward
    _buttons(_B.TURN_LEFT),  # turn_left
    _buttons(_B.TURN_RIGHT),  # turn_right
    _buttons(_B.MOVE_LEFT),  # strafe_left
    _buttons(_B.MOVE_RIGHT),  # strafe_right
    _buttons(_B.ATTACK),  # attack
    _buttons(_B.MOVE_FORWARD, _B.TURN_LEFT),  # forward_left
    _buttons(_B.MOVE_FORWARD, _B.TURN_RIGHT),  # forward_right
)


@dataclass(frozen=True)
class DoomConfig(WorldConfig):
    """VizDoom settings.

    Attributes:
        scenario: One of :data:`SCENARIOS` (a ``.cfg`` in ``vizdoom.scenarios_path``).
        frame_skip: Game tics (35 per second) per adapter step. 2 gives 17.5 steps/s, smooth enough to
            play, and small changes per step (a held turn rotates 7 degrees of the 90-degree view) that a
            model can follow; 4 doubles the change per step (14 degrees) and makes play choppy (8.75 Hz).
        render_hud: Draw the status bar (health, ammo) at the bottom of the screen.
        labels: Record VizDoom's labels of each frame (monsters and projectiles on screen, with their boxes;
            :meth:`DoomWorld.frame_labels`) with the dataset. They do not change the frames.
        max_episode_steps: Steps before the episode is truncated; also sets VizDoom's episode timeout so
            the game and the adapter agree (0 = the scenario's own timeout, which may be none).
    """

    scenario: str = "deathmatch"
    frame_skip: int = 2
    render_hud: bool = False
    labels: bool = True
    max_episode_steps: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scenario not in SCENARIOS:
            raise unknown_name("doom scenario", self.scenario, SCENARIOS)
        if self.frame_skip < 1:
            raise ValueError(f"frame_skip must be >= 1, got {self.frame_skip}")


class DoomWorld(World):
    """First-person shooter (VizDoom). See the module docstring."""

    name = "doom"
    Config = DoomConfig
    fps = 35.0 / 2
    schema = ActionSchema(
        world="doom",
        version=1,
        actions=(
            Action("noop", (), "stand still"),
            Action("forward", (("up",), ("w",)), "walk forward"),
            Action("backward", (("down",), ("s",)), "walk backward"),
            Action("turn_left", (("left",), ("q",)), "turn left"),
            Action("turn_right", (("right",), ("e",)), "turn right"),
            Action("strafe_left", (("a",),), "step sideways to the left"),
            Action("strafe_right", (("d",),), "step sideways to the right"),
            Action("attack", (("space",), ("lctrl",)), "fire the weapon"),
            Action("forward_left", (("up", "left"), ("w", "left"), ("w", "q")), "forward and turn left"),
            Action("forward_right", (("up", "right"), ("w", "right"), ("w", "e")), "forward and turn right"),
        ),
    )
    #: Sampling weights of :class:`~worldsim.policies.random_persistent.RandomPersistentPolicy`: mostly walk, turn
    #: and shoot so random data explores the map and fights, with little standing or backing up.
    explore_weights: tuple[float, ...] = (0.3, 2.0, 0.5, 1.5, 1.5, 0.7, 0.7, 1.5, 1.0, 1.0)

    def __init__(self, config: DoomConfig | None = None) -> None:
        super().__init__(config)
        self.config: DoomConfig
        self.fps = 35.0 / self.config.frame_skip
        self._game: vzd.DoomGame | None = self._make_game()
        self._frame = np.zeros((120, 160, 3), np.uint8)
        self._labels = np.zeros((MAX_LABELS, 5), np.float32)
        self._ended = (False, False)  # (terminated, truncated) of the finished episode

    def _make_game(self) -> vzd.DoomGame:
        cfg = self.config
        game = vzd.DoomGame()
        game.load_config(os.path.join(vzd.scenarios_path, f"{cfg.scenario}.cfg"))
        # ZDoom writes its ini file into the working directory by default; keep it out of the repo.
        game.set_doom_config_path(os.path.join(tempfile.gettempdir(), "worldsim_vizdoom.ini"))
        game.set_window_visible(False)
        game.set_sound_enabled(False)
        game.set_mode(vzd.Mode.PLAYER)
        game.set_screen_resolution(vzd.ScreenResolution.RES_160X120)
        game.set_screen_format(vzd.ScreenFormat.RGB24)
        game.set_render_hud(cfg.render_hud)
        game.set_render_crosshair(False)
        game.set_render_weapon(True)
        game.set_available_buttons(list(BUTTONS))
        game.set_available_game_variables([vzd.GameVariable.HEALTH, vzd.GameVariable.AMMO2])
        game.set_labels_buffer_enabled(cfg.labels)
        # ZDoom ignores input for the first ~7 tics of a level; starting the episode later means every
        # action, the first included, has its effect on the very next frame. The last _SETTLE_TICS of
        # the start are played by _reset (see there), hence the subtraction here and the sum below
        # (VizDoom plays at least one start tic itself).
        start = max(game.get_episode_start_time(), _MIN_START_TICS)
        game.set_episode_start_time(max(start - _SETTLE_TICS, 1))
        if cfg.max_episode_steps > 0:
            # The same limit on the game's side, so it ends the episode at exactly the step where the
            # adapter truncates (VizDoom counts the timeout from the end of its start tics).
            game.set_episode_timeout(cfg.max_episode_steps * cfg.frame_skip + _SETTLE_TICS)
        game.init()
        return game

    @property
    def unwrapped(self) -> vzd.DoomGame:
        """The ``vizdoom.DoomGame`` instance (game variables, player state) for scripted policies."""
        if self._game is None:
            raise RuntimeError("DoomWorld is closed")
        return self._game

    def _screen(self) -> np.ndarray:
        state = self.unwrapped.get_state()
        if state is not None:
            self._frame = state.screen_buffer
            if self.config.labels:
                self._labels = self._label_rows(state.labels)
        # After the episode ends there is no state: the last frame is repeated. A copy, so that callers
        # that write into a returned frame cannot change the next one.
        return self._frame.copy()

    def _reset(self, seed: int | None) -> np.ndarray:
        game = self.unwrapped
        if seed is not None:
            # Takes effect at the next new_episode: monster behaviour and damage rolls follow the seed.
            game.set_seed(int(seed) % 2**32)
        game.new_episode()
        self._ended = (False, False)
        # ZDoom's weapon bob survives new_episode: it eases toward its target by about one unit (of at
        # most 16) per frame, so a weapon swinging at the end of the last episode would still swing at
        # the start of this one. Rendered tics with no keys settle it, so that an episode depends only
        # on the seed and the actions (tested in tests/envs/test_doom.py).
        for _ in range(_SETTLE_TICS):
            game.make_action(CONTROLS[0], 1)
        return self._screen()

    def _step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        game = self.unwrapped
        if game.is_episode_finished():
            # Stepping past the end is a no-op that repeats the final frame and flags.
            info = {"tic": game.get_episode_time(), "dead": game.is_player_dead()}
            return self._screen(), 0.0, *self._ended, info
        reward = game.make_action(CONTROLS[action], self.config.frame_skip)
        finished = game.is_episode_finished()
        dead = game.is_player_dead()
        timeout = finished and game.is_episode_timeout_reached() and not dead
        self._ended = (finished and not timeout, timeout)
        info: dict[str, Any] = {"tic": game.get_episode_time(), "dead": dead}
        return self._screen(), float(reward), *self._ended, info

    def frame_labels(self) -> np.ndarray | None:
        """The monsters and projectiles on the current frame (:meth:`World.frame_labels`).

        Kinds index :data:`LABEL_KINDS`; the largest :data:`MAX_LABELS` boxes first; None when ``labels`` is off.
        """
        return self._labels.copy() if self.config.labels else None

    def _label_rows(self, labels: list) -> np.ndarray:
        h, w = self.resolution
        sy, sx = h / self._frame.shape[0], w / self._frame.shape[1]
        rows = [
            (LABEL_KINDS.index(lab.object_category), lab.x * sx, lab.y * sy, (lab.x + lab.width) * sx,
             (lab.y + lab.height) * sy)
            for lab in labels
            if lab.object_category in LABEL_KINDS and lab.width > 0 and lab.height > 0
        ]  # fmt: skip
        rows.sort(key=lambda r: -(r[3] - r[1]) * (r[4] - r[2]))
        out = np.zeros((MAX_LABELS, 5), np.float32)
        if rows:
            out[: len(rows[:MAX_LABELS])] = rows[:MAX_LABELS]
        return out

    def close(self) -> None:
        """Shut the game down; safe to call twice."""
        if self._game is not None:
            self._game.close()
            self._game = None
