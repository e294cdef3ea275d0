"""Probes read state from pixels; checked against the real simulator's own state on fresh episodes."""

from __future__ import annotations

import numpy as np
import pytest

from worldsim.policies.base import make_policy
from worldsim.probes import carracing as probe
from worldsim.sources import make_world


def _drive(policy: str, seed: int, steps: int):
    world = make_world("carracing", height=64, width=64)
    frame = world.reset(seed=seed)
    pilot = make_policy(policy, "carracing")
    pilot.reset(world, np.random.default_rng(seed))
    frames, speed, on = [], [], []
    for _ in range(steps):
        s = world.step(pilot.act(frame))
        frame = s.frame
        car = world.unwrapped.car
        frames.append(frame)
        speed.append(float(np.linalg.norm(car.hull.linearVelocity)))
        on.append(sum(len(w.tiles) > 0 for w in car.wheels) >= 2)  # two wheels on track tiles
        if s.terminated or s.truncated:
            break
    world.close()
    return np.stack(frames), np.array(speed), np.array(on)


@pytest.fixture(scope="module")
def random_drive():
    return _drive("random", 401, 250)  # seeds above 400: never used to calibrate the probes (100-105)


def test_speed_probe_reads_the_true_speed(random_drive):
    frames, speed, _ = random_drive
    read = probe.speed(frames)
    assert np.abs(read - speed).mean() < 3.0 and np.corrcoef(read, speed)[0, 1] > 0.95


def test_on_road_probe_agrees_with_the_simulator(random_drive):
    frames, _, on = random_drive
    assert 0.1 < on.mean() < 0.9  # the random driver is both on and off the road: the check can fail both ways
    assert (probe.on_road(frames) == on).mean() >= 0.9


def test_the_pilot_keeps_to_the_road_from_pixels_alone():
    frames, speed, on = _drive("pilot", 402, 200)
    assert on.mean() >= 0.95 and speed[50:].mean() > 15  # on the road, and driving, not crawling


def test_probes_work_at_other_resolutions():
    frame = make_world("carracing", height=96, width=96).reset(seed=3)
    assert probe.road_mask(frame).shape == (64, 64) and probe.on_road(frame)
