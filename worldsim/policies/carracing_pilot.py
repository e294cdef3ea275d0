"""A CarRacing driver that sees only the picture.

It steers towards the road ahead and keeps a speed read from the instrument strip (:mod:`worldsim.probes.carracing`).

Unlike the scripted driver (which reads the track from the simulator), it works in the learned world too: it is
the autopilot of ``make demo`` and of ``worldsim play carracing --policy pilot``, and a policy whose decisions
depend on what the model draws.
"""

from __future__ import annotations

import numpy as np

from worldsim.policies.base import Policy
from worldsim.probes import carracing as probe
from worldsim.sources.base import World

NOOP, LEFT, RIGHT, GAS, BRAKE, GAS_LEFT, GAS_RIGHT = range(7)


class CarRacingPilot(Policy):
    """Follow the road seen ahead.

    Args:
        speed: Target speed (m/s) read from the speed bar.
        deadband: Road-centre offset (pixels) within which the pilot does not steer.
        noise: Probability per frame of a random action held 1-5 frames (a sloppier driver).
        brake: Probability per frame of braking for 3-8 frames (a brake-happy driver).
    """

    privileged = False

    def __init__(self, speed: float = 22.0, deadband: float = 1.5, noise: float = 0.0, brake: float = 0.0) -> None:
        self.speed, self.deadband, self.noise, self.brake = speed, deadband, noise, brake
        self.held, self.left = NOOP, 0

    def reset(self, world: World, rng: np.random.Generator) -> None:
        """Start an episode (no held action)."""
        super().reset(world, rng)
        self.held, self.left = NOOP, 0

    def act(self, frame: np.ndarray) -> int:
        """Steer towards the centre of the road the car is on, a few rows ahead; gas below the target speed."""
        if self.left > 0:
            self.left -= 1
            return self.held
        if self.noise or self.brake:
            u = self.rng.random()
            if u < self.brake:
                self.held, self.left = BRAKE, int(self.rng.integers(3, 9)) - 1
                return BRAKE
            if u < self.brake + self.noise:
                self.held, self.left = int(self.rng.integers(7)), int(self.rng.integers(1, 6)) - 1
                return self.held
        road = probe.road_mask(frame)
        offset = _track_road(road)
        fast = float(probe.speed(frame)) >= self.speed
        if offset is None:  # no road in sight: coast straight on slowly rather than race across the grass
            return NOOP if fast else GAS
        if offset < -self.deadband:
            return LEFT if fast else GAS_LEFT
        if offset > self.deadband:
            return RIGHT if fast else GAS_RIGHT
        return NOOP if fast else GAS


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of every run of True in a boolean row."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _track_road(road: np.ndarray, first: int = 42, last: int = 28) -> float | None:
    """Offset (pixels from the car's column) of the road the car is on, followed up the picture row by row.

    Taking the mean of all road in a band fails in a hairpin, where the road coming back is in view too: the
    pilot would cut across the grass towards it. Following the connected stretch from the car keeps to its road.
    """
    centre = (probe.SIZE - 1) / 2
    runs = _runs(road[first])
    if not runs:
        ys, xs = np.nonzero(road[:first])
        return None if len(xs) < 4 else float(xs.mean() - centre)  # off the road: head for the nearest road seen
    run = min(runs, key=lambda r: 0 if r[0] <= centre < r[1] else min(abs(r[0] - centre), abs(r[1] - 1 - centre)))
    centres = [(run[0] + run[1] - 1) / 2]
    for y in range(first - 1, last - 1, -1):
        overlapping = [r for r in _runs(road[y]) if r[0] < run[1] and r[1] > run[0]]
        if not overlapping:
            break
        run = max(overlapping, key=lambda r: min(r[1], run[1]) - max(r[0], run[0]))
        centres.append((run[0] + run[1] - 1) / 2)
    return float(np.mean(centres) - centre)
