"""Random actions held for a random number of frames, as a human holds keys."""

from __future__ import annotations

import numpy as np

from worldsim.policies.base import Policy
from worldsim.sources.base import World


class RandomPersistentPolicy(Policy):
    """Draw an action (weighted by the world's ``explore_weights`` if it has them) and hold it.

    Args:
        min_hold: Fewest frames an action is held.
        max_hold: Most frames an action is held (hold lengths are uniform in between).
    """

    privileged = False

    def __init__(self, min_hold: int = 1, max_hold: int = 15) -> None:
        if not 1 <= min_hold <= max_hold:
            raise ValueError(f"need 1 <= min_hold <= max_hold, got {min_hold}, {max_hold}")
        self.min_hold, self.max_hold = min_hold, max_hold

    def reset(self, world: World, rng: np.random.Generator) -> None:
        """Start holding nothing; the first :meth:`act` draws an action."""
        super().reset(world, rng)
        n = len(world.schema)
        w = np.asarray(getattr(world, "explore_weights", None) or np.ones(n), dtype=np.float64)
        self.p = w / w.sum()
        self.action, self.left = 0, 0

    def act(self, frame: np.ndarray) -> int:
        """The held action, or a fresh one when the hold runs out."""
        if self.left <= 0:
            self.action = int(self.rng.choice(len(self.p), p=self.p))
            self.left = int(self.rng.integers(self.min_hold, self.max_hold + 1))
        self.left -= 1
        return self.action
