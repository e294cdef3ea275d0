"""Scripted ``toy`` policy: walk to the coin, step away from the hazard when it comes close."""

from __future__ import annotations

import numpy as np

from worldsim.policies.base import Policy


class ToySeeker(Policy):
    """Greedy coin seeker with hazard avoidance and a little noise."""

    def __init__(self, noise: float = 0.1) -> None:
        self.noise = noise

    def act(self, frame: np.ndarray) -> int:
        """Move along the larger axis of the coin (or away from a close hazard)."""
        w = self.world
        if self.rng.random() < self.noise:
            return int(self.rng.integers(len(w.schema)))
        away = w.player - w.hazard
        target = w.player + away if np.abs(away).max() < 14 else w.coin
        d = target - w.player
        if np.abs(d).max() < 1:
            return 0
        if abs(d[0]) > abs(d[1]):
            return 4 if d[0] > 0 else 3
        return 2 if d[1] > 0 else 1
