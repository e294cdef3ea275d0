"""Scripted CarRacing driver: pure pursuit along the track centre line with speed control.

It reads the track and the car body from the simulator (privileged state) and answers with the
same discrete actions a player has. Per-episode jitter in lookahead, target speed and action noise
makes the data cover both clean laps and wobbly recoveries.
"""

from __future__ import annotations

import math

import numpy as np

from worldsim.policies.base import Policy
from worldsim.sources.base import World

NOOP, LEFT, RIGHT, GAS, BRAKE, GAS_LEFT, GAS_RIGHT = range(7)


class CarRacingDriver(Policy):
    """Follow the track.

    Args:
        noise: Probability of replacing the chosen action with a random one, held for a few frames.
        speed: Target speed (m/s) on straights; it is lowered before curves.
    """

    def __init__(self, noise: float = 0.05, speed: float = 45.0) -> None:
        self.noise, self.speed = noise, speed

    def reset(self, world: World, rng: np.random.Generator) -> None:
        """Draw this episode's driving style."""
        super().reset(world, rng)
        env = world.unwrapped
        self.track = np.array([(t[2], t[3]) for t in env.track], dtype=np.float64)
        self.lookahead = int(rng.integers(4, 8))
        self.target_speed = self.speed * rng.uniform(0.7, 1.1)
        self.deadband = rng.uniform(0.05, 0.15)
        self.noise_action, self.noise_left = 0, 0

    def act(self, frame: np.ndarray) -> int:
        """Steer towards a point a few tiles ahead; gas below the target speed, brake well above it."""
        if self.noise_left > 0:
            self.noise_left -= 1
            return self.noise_action
        if self.rng.random() < self.noise:
            self.noise_action = int(self.rng.integers(7))
            self.noise_left = int(self.rng.integers(1, 6))
            return self.noise_action
        car = self.world.unwrapped.car.hull
        pos = np.array(car.position, dtype=np.float64)
        n = len(self.track)
        i = int(np.argmin(((self.track - pos) ** 2).sum(1)))
        target = self.track[(i + self.lookahead) % n]
        heading = car.angle + math.pi / 2  # the car's nose points along local +y
        desired = math.atan2(target[1] - pos[1], target[0] - pos[0])
        err = (desired - heading + math.pi) % (2 * math.pi) - math.pi
        # Slow down before curves: compare the track direction now and further ahead.
        far = self.track[(i + 3 * self.lookahead) % n]
        bend = abs((math.atan2(far[1] - target[1], far[0] - target[0]) - desired + math.pi) % (2 * math.pi) - math.pi)
        speed = float(np.linalg.norm(car.linearVelocity))
        want = self.target_speed * (1.0 - 0.5 * min(bend, 1.0))
        steer = LEFT if err > self.deadband else RIGHT if err < -self.deadband else NOOP
        if speed > want * 1.25:
            return BRAKE if steer == NOOP else steer
        if speed < want:
            return {NOOP: GAS, LEFT: GAS_LEFT, RIGHT: GAS_RIGHT}[steer]
        return steer
