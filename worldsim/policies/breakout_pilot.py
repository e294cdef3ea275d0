"""A Breakout player that sees only the picture.

It reads the ball and the paddle with the frame probes (:mod:`worldsim.probes.breakout`), launches the ball when
none is in play, and moves the paddle under where the ball will land. Unlike the scripted tracker (which reads the
console RAM), it plays the learned world too, so the same player can be scored in the model and in the real game:
``worldsim rank`` ranks it beside sloppier copies of itself and beside players that do nothing useful.
"""

from __future__ import annotations

import numpy as np

from worldsim.policies.base import Policy
from worldsim.policies.breakout_tracker import landing_x, paddle_action
from worldsim.probes import breakout as probe
from worldsim.sources.base import World

NOOP, FIRE = 0, 1
# 64x64 probe pixels: the rows the ball meets the paddle at, and the side walls it bounces off.
_PADDLE_Y, _WALL_LO, _WALL_HI = 57.0, 2.0, 62.0


class BreakoutPilot(Policy):
    """Launch the ball, then keep the paddle under its landing point, from frames alone.

    Args:
        deadzone: The paddle stops within this many pixels of its target (the paddle is ~4 pixels wide at 64x64).
        noise: Probability per frame of a random action held 1-5 frames (a sloppier player).
        offset: Fixed aiming error in pixels (the paddle waits this far beside the landing point); a few pixels
            give a player that loses its ball often.
        lead: Fraction of the paddle's last-frame movement added to where it is before aiming: the paddle slides
            on after a key changes (several pixels a frame at frame skip 4) and overshoots without it.
            Defaults (deadzone 3, lead 1) scored best in a small sweep on seeds 20000-20003, which no evaluation
            uses: 79 points a game (the other settings tried: 4 to 78).
    """

    privileged = False

    def __init__(self, deadzone: float = 3.0, noise: float = 0.0, offset: float = 0.0, lead: float = 1.0) -> None:
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be a probability, got {noise}")
        self.deadzone, self.noise, self.offset, self.lead = deadzone, noise, offset, lead
        self.held, self.left, self.prev, self.paddle = NOOP, 0, None, None

    def reset(self, world: World, rng: np.random.Generator) -> None:
        """Start an episode: no held action, no ball seen yet."""
        super().reset(world, rng)
        self.held, self.left, self.prev, self.paddle = NOOP, 0, None, None

    def act(self, frame: np.ndarray) -> int:
        """Fire with no ball in sight; otherwise move toward the predicted landing column."""
        paddle, last = float(probe.paddle_x(frame)), self.paddle
        self.paddle = paddle
        if self.left > 0:
            self.left -= 1
            return self.held
        if self.noise and self.rng.random() < self.noise:
            self.held, self.left = int(self.rng.integers(4)), int(self.rng.integers(1, 6)) - 1
            return self.held
        ball = probe.ball(frame)
        prev, self.prev = self.prev, None
        if not ball["present"]:
            return FIRE
        x, y = float(ball["x"]), float(ball["y"])
        self.prev = (x, y)
        target = landing_x(x, y, prev, _PADDLE_Y, (_WALL_LO, _WALL_HI))
        moving = paddle - last if last is not None else 0.0
        return paddle_action(target + self.offset - (paddle + self.lead * moving), self.deadzone)
