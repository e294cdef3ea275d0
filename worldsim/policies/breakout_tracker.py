"""Scripted ``breakout`` policy: launch the ball, then keep the paddle under where the ball will land.

It reads the console RAM (privileged state) instead of the frame. Addresses, checked against the
rendered frame with ale-py 0.12 (screen x/y of the object's left/top pixel):

* ``ram[99]``: ball x; ball screen x = ``ram[99] - 49``.
* ``ram[101]``: ball y; ball screen y = ``ram[101] + 9``; 0 while no ball is in play (before the
  launch and after a life is lost).
* ``ram[72]``: paddle x; paddle screen x = ``ram[72] - 47`` (16 pixels wide, 8 after the ball first hits
  the top wall).
"""

from __future__ import annotations

import numpy as np

from worldsim.policies.base import Policy
from worldsim.sources.base import World

_NOOP, _FIRE, _RIGHT, _LEFT = 0, 1, 2, 3
_BALL_X, _BALL_Y, _PADDLE_X = 99, 101, 72
# Ball x (ram units) where it bounces off the side walls, and ball y where it meets the paddle.
_WALL_LO, _WALL_HI, _PADDLE_Y = 57.0, 199.0, 178.0
# Ball centre minus paddle centre in ram units: (ram99 - 48.5) - (ram72 - 39.5).
_CENTRE = 9.0


class BreakoutTracker(Policy):
    """Predict the ball's landing x from its RAM velocity and move the paddle there.

    Each episode draws its own skill from the generator: a probability of a random action per step
    (up to ``max_noise``) and a fixed aiming error (up to ``max_offset`` pixels), so some episodes are
    played sharply and others miss often, which gives the world model both long rallies and lost lives.

    Args:
        max_noise: Largest per-episode probability of replacing the action by a random one.
        max_offset: Largest per-episode aiming error in pixels (paddle centre vs. predicted ball x).
        deadzone: The paddle stops when it is this close (pixels) to the target, to avoid jitter.
        lead: Fraction of the paddle's last-step movement added to its position before aiming; the
            paddle has momentum, and without this it overshoots back and forth under a falling ball.
            Defaults (deadzone 6, lead 0.5) scored best in a small sweep (noise-free, six seeds).
    """

    def __init__(
        self, max_noise: float = 0.25, max_offset: float = 6.0, deadzone: float = 6.0, lead: float = 0.5
    ) -> None:
        if not 0.0 <= max_noise <= 1.0:
            raise ValueError(f"max_noise must be in [0, 1], got {max_noise}")
        self.max_noise, self.max_offset, self.deadzone, self.lead = max_noise, max_offset, deadzone, lead

    def reset(self, world: World, rng: np.random.Generator) -> None:
        """Draw this episode's noise level and aiming error."""
        super().reset(world, rng)
        self.noise = float(rng.uniform(0.0, self.max_noise))
        self.offset = float(rng.uniform(-self.max_offset, self.max_offset))
        self.prev: tuple[int, int] | None = None
        self.prev_paddle: int | None = None

    def act(self, frame: np.ndarray) -> int:
        """Fire when no ball is in play, otherwise move toward the predicted landing point."""
        ram = self.world.unwrapped.ale.getRAM()
        bx, by, px = int(ram[_BALL_X]), int(ram[_BALL_Y]), int(ram[_PADDLE_X])
        prev, self.prev = self.prev, (bx, by)
        # The paddle keeps sliding for a step after the key changes: aim from where it is about to be.
        pv = px - self.prev_paddle if self.prev_paddle is not None else 0
        self.prev_paddle = px
        if self.rng.random() < self.noise:
            return int(self.rng.integers(4))
        if by == 0:
            self.prev = None  # the next ball starts fresh: no velocity from the lost one
            return _FIRE
        seen = prev if prev is not None and prev[1] != 0 else None
        target = landing_x(bx, by, seen, _PADDLE_Y, (_WALL_LO, _WALL_HI))
        return paddle_action(target - _CENTRE + self.offset - (px + self.lead * pv), self.deadzone)


def landing_x(
    x: float, y: float, prev: tuple[float, float] | None, paddle_y: float, walls: tuple[float, float]
) -> float:
    """Where a ball at ``(x, y)``, seen at ``prev`` one step before, meets the paddle row ``paddle_y``.

    A falling ball goes on in a straight line, folded into the playfield at the side walls ``(lo, hi)``; a rising
    ball, or one without a previous position, is aimed at where it is. Any units (RAM or pixels), the same for all.
    """
    if prev is None or y <= prev[1]:
        return float(x)
    straight = x + (x - prev[0]) * (paddle_y - y) / (y - prev[1])
    lo, hi = walls
    span = hi - lo
    folded = (straight - lo) % (2 * span)
    return lo + (folded if folded <= span else 2 * span - folded)


def paddle_action(offset: float, deadzone: float) -> int:
    """Move the paddle toward a target ``offset`` away (positive: to the right), or stay within ``deadzone``."""
    if abs(offset) <= deadzone:
        return _NOOP
    return _RIGHT if offset > 0 else _LEFT
