"""``breakout``: Atari 2600 Breakout through the Arcade Learning Environment (ale-py).

The ALE environment class is used directly (not ``gym.make``), so there is no ``TimeLimit`` wrapper:
the episode length is the adapter's ``max_episode_steps``. Sticky actions are off
(``repeat_action_probability=0``): with them the emulator ignores the chosen action a quarter of the
time at random, so the recorded action would not determine the next frame and a world model would learn
blurred, hedged predictions; a human playing the learned world also expects every key press to count.
The 210x160 screen is resized to the model resolution by :class:`~worldsim.sources.base.World`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ale_py
import gymnasium as gym
import numpy as np
from ale_py.env import AtariEnv

from worldsim.actions import Action, ActionSchema
from worldsim.errors import ConfigError, unknown_name
from worldsim.sources.base import World, WorldConfig

# Makes the ``ALE/...`` ids known to gymnasium (for tools that use gym.make); the adapter itself does not.
gym.register_envs(ale_py)

#: ALE games whose minimal action set is exactly our schema's (NOOP, FIRE, RIGHT, LEFT), checked by
#: listing every ALE game's action meanings; other games would need their own schema.
GAMES: tuple[str, ...] = ("Breakout", "Kaboom")
_MEANINGS = ["NOOP", "FIRE", "RIGHT", "LEFT"]

#: Label kinds of :meth:`BreakoutWorld.frame_labels` (index 0: an empty row).
LABEL_KINDS: tuple[str, ...] = ("", "ball", "score")
#: Console RAM bytes of the ball's position, and the screen offset of that position (checked against the frames
#: in ``tests/test_probes.py``): the ball's top-left screen pixel is ``(ram[99] - 49, ram[101] + 9)``; ``ram[101]``
#: is 0 while no ball is in play.
_BALL_X, _BALL_Y, _BALL_DX, _BALL_DY = 99, 101, -49, 9
#: The ball's size on the 160x210 screen, and the rows of the score digits.
_BALL_W, _BALL_H, _SCORE_H = 2, 4, 18


@dataclass(frozen=True)
class AtariConfig(WorldConfig):
    """Atari settings.

    Attributes:
        game: ALE game name as in the ``ALE/{game}-v5`` id; one of :data:`GAMES`.
        frameskip: Emulator frames (60 per second) per adapter step; the action is repeated on each and
            the last frame is returned. 4 is the standard Atari setting.
        repeat_action_probability: Sticky-action probability; 0 keeps the data deterministic (see the
            module docstring).
        full_action_space: Must stay ``False``: the schema is the game's minimal action set.
        max_episode_steps: Steps before truncation (0 = ALE's own limit of 108,000 frames, 30 minutes).
        labels: Record where the console RAM puts the ball, and the score strip on a frame whose step scored
            (:meth:`BreakoutWorld.frame_labels`), with the dataset. They do not change the frames.
    """

    game: str = "Breakout"
    frameskip: int = 4
    repeat_action_probability: float = 0.0
    full_action_space: bool = False
    max_episode_steps: int = 2000
    labels: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.game not in GAMES:
            raise unknown_name("atari game for world 'breakout'", self.game, GAMES)
        if self.frameskip < 1:
            raise ValueError(f"frameskip must be >= 1, got {self.frameskip}")
        if not 0.0 <= self.repeat_action_probability <= 1.0:
            raise ValueError(f"repeat_action_probability must be in [0, 1], got {self.repeat_action_probability}")
        if self.full_action_space:
            raise ValueError("full_action_space=True is not supported: the action schema is the minimal set")


class BreakoutWorld(World):
    """Atari Breakout: bounce the ball off the paddle to clear bricks; 5 lives, game over ends it."""

    name = "breakout"
    Config = AtariConfig
    fps = 60.0 / 4
    schema = ActionSchema(
        world="breakout",
        version=1,
        actions=(
            Action("noop", (), "do nothing"),
            Action("fire", (("space",),), "launch the ball"),
            Action("right", (("right",), ("d",)), "move the paddle right"),
            Action("left", (("left",), ("a",)), "move the paddle left"),
        ),
    )
    #: Random exploration: launching is only needed once per life, so fire is drawn rarely.
    explore_weights: tuple[float, ...] = (1.0, 0.5, 1.5, 1.5)

    def __init__(self, config: AtariConfig | None = None) -> None:
        super().__init__(config)
        self.config: AtariConfig
        cfg = self.config
        self._scored = False  # whether the last step scored (the score digits change on its frame)
        self.fps = 60.0 / cfg.frameskip
        limit = cfg.max_episode_steps * cfg.frameskip if cfg.max_episode_steps > 0 else 108_000
        self._env: AtariEnv | None = AtariEnv(
            game=_ale_game(cfg.game),
            obs_type="rgb",
            frameskip=cfg.frameskip,
            repeat_action_probability=cfg.repeat_action_probability,
            full_action_space=cfg.full_action_space,
            max_num_frames_per_episode=limit,
        )
        meanings = self._env.get_action_meanings()
        if meanings != _MEANINGS:  # guards GAMES against a future ALE changing a game's action set
            self._env.close()
            raise ConfigError(f"game {cfg.game!r} has actions {meanings}, but world 'breakout' needs {_MEANINGS}")

    @property
    def unwrapped(self) -> AtariEnv:
        """The ALE ``AtariEnv``; ``.ale.getRAM()`` gives the console RAM for scripted policies."""
        if self._env is None:
            raise RuntimeError("BreakoutWorld is closed")
        return self._env

    def _reset(self, seed: int | None) -> np.ndarray:
        obs, _ = self.unwrapped.reset(seed=seed)
        self._scored = False
        return obs

    def _step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.unwrapped.step(action)
        self._scored = reward > 0
        return obs, float(reward), bool(terminated), bool(truncated), {"lives": int(info["lives"])}

    def frame_labels(self) -> np.ndarray | None:
        """The ball (kind 1) and, on a frame whose step scored, the score strip (kind 2) (:meth:`World.frame_labels`).

        Boxes are in model-resolution pixels, one pixel wider on each side than the ball so that a box always covers
        the pixels the resize blends it into. None when ``labels`` is off.
        """
        if not self.config.labels:
            return None
        h, w = self.resolution
        sx, sy = w / 160, h / 210
        out = np.zeros((len(LABEL_KINDS) - 1, 5), np.float32)
        ram = self.unwrapped.ale.getRAM()
        if ram[_BALL_Y] > 0:
            x, y = (int(ram[_BALL_X]) + _BALL_DX) * sx, (int(ram[_BALL_Y]) + _BALL_DY) * sy
            out[0] = (1, max(x - 1, 0), max(y - 1, 0), min(x + _BALL_W * sx + 1, w), min(y + _BALL_H * sy + 1, h))
        if self._scored:
            out[1] = (2, 0, 0, w, _SCORE_H * sy)
        return out

    def close(self) -> None:
        """Close the emulator; safe to call twice."""
        if self._env is not None:
            self._env.close()
            self._env = None


def _ale_game(game: str) -> str:
    """ALE's ROM name of an ``ALE/{game}-v5`` id, e.g. ``"Breakout"`` -> ``"breakout"``."""
    return gym.spec(f"ALE/{game}-v5").kwargs["game"]
