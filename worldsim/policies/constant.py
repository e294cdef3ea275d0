"""One action, every frame: the simplest baselines of a policy ranking (always gas, always coast)."""

from __future__ import annotations

import numpy as np

from worldsim.policies.base import Policy


class ConstantPolicy(Policy):
    """Always ``action`` (a name of the world's schema, or an id)."""

    privileged = False

    def __init__(self, action: str | int = 0) -> None:
        self.action = action

    def act(self, frame: np.ndarray) -> int:
        """The action."""
        return self.world.schema.index(self.action)
