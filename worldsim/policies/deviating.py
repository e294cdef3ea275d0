"""Counterfactual data: the competent (scripted) policy, interrupted by held deviating actions.

A world model learns the consequence of an action only from states where the action was taken. Data of a good
driver never shows braking to a stop in a bend or full gas into a hairpin, and data of a random driver never
reaches speed on the road, so a model trained on both stops short of the consequences users ask about ("what if
the car brakes here?"). This policy drives with the scripted policy, and every so often, from wherever it got to
(on the road, at speed, in a bend), holds one action for 10-60 frames: brake, full gas straight on, hard steer,
coast... every action of the world, each equally often. Then the scripted policy takes over again, so the
recovery is in the data too.
"""

from __future__ import annotations

import numpy as np

from worldsim.policies.base import Policy, make_policy
from worldsim.sources.base import World


class DeviatingPolicy(Policy):
    """The world's scripted policy with held deviations.

    Args:
        min_hold: Fewest frames a deviation is held.
        max_hold: Most frames a deviation is held.
        first: ``(lo, hi)`` frames of scripted driving before the first deviation (to reach speed first).
        gap: ``(lo, hi)`` frames of scripted driving between deviations (time to recover).
    """

    def __init__(
        self,
        min_hold: int = 10,
        max_hold: int = 60,
        first: tuple[int, int] = (20, 80),
        gap: tuple[int, int] = (30, 120),
    ) -> None:
        if not 1 <= min_hold <= max_hold:
            raise ValueError(f"need 1 <= min_hold <= max_hold, got {min_hold}, {max_hold}")
        self.min_hold, self.max_hold, self.first, self.gap = min_hold, max_hold, first, gap

    def reset(self, world: World, rng: np.random.Generator) -> None:
        """Start the scripted driver; schedule the first deviation."""
        super().reset(world, rng)
        self.base = make_policy("scripted", world.name)
        self.base.reset(world, rng)
        self.t, self.next = 0, int(rng.integers(*self.first))
        self.action, self.left = 0, 0
        #: ``(start frame, action, frames)`` of every deviation so far (for tests and statistics).
        self.deviations: list[tuple[int, int, int]] = []

    def act(self, frame: np.ndarray) -> int:
        """The held deviation, or the scripted driver's action."""
        self.t += 1
        if self.left == 0 and self.t >= self.next:
            self.action = int(self.rng.integers(len(self.world.schema)))
            self.left = int(self.rng.integers(self.min_hold, self.max_hold + 1))
            self.deviations.append((self.t, self.action, self.left))
            self.next = self.t + self.left + int(self.rng.integers(*self.gap))
        if self.left > 0:
            self.left -= 1
            return self.action
        return int(self.base.act(frame))
