"""CarRacing probes: road under and ahead of the car, speed and steering from the instrument strip.

Defined on 64x64 frames (other sizes are resized to it first). The camera follows the car, so the car is always
at the same place: centre column, about three quarters down. The strip below the picture (the last eighth of the
rows) holds the speed bar (a grey square whose brightness grows with speed), the wheel bars, the steering bar
(green, left or right of the centre) and the gyro bar (red).

The speed calibration is a least-squares fit of the true hull speed (m/s) on the speed bar's brightness over
1,500 frames of 6 real episodes (scripted and random driving, seeds 100-105): R^2 0.985, mean error 1.5 m/s.
"""

from __future__ import annotations

import numpy as np

from worldsim.probes.frames import PROBE_SIZE, at_probe_size

SIZE = PROBE_SIZE
STRIP_TOP = SIZE * 7 // 8  # rows below this are the instrument strip
CAR = (slice(43, 52), slice(28, 37))  # rows, cols of the car's body and the road right around it
AHEAD = (slice(20, 42), slice(16, 48))  # the road the car is about to drive on
SPEED_BAR = (slice(STRIP_TOP, SIZE), slice(7, 10))
SPEED_GAIN, SPEED_OFFSET = 18.07, -3.41  # m/s per unit of summed bar brightness, and the bar's floor
ROAD_UNDER_MIN = 0.3  # share of road pixels around the car from which it counts as on the road


def road_mask(frames: np.ndarray) -> np.ndarray:
    """Road-grey pixels (bool ``(..., 64, 64)``): grey, neither grass green nor kerb red nor the black strip."""
    x = at_probe_size(frames).astype(np.int16)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return (np.abs(r - g) < 25) & (np.abs(g - b) < 25) & (g > 60) & (g < 170)


def _share(frames: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
    return road_mask(frames)[..., box[0], box[1]].mean(axis=(-2, -1))


def road_under_car(frames: np.ndarray) -> np.ndarray:
    """Share of road pixels in the box around the car (its red body counts as neither)."""
    x = at_probe_size(frames)[..., CAR[0], CAR[1], :].astype(np.int16)
    body = (x[..., 0] - x[..., 1]) > 40
    road = road_mask(frames)[..., CAR[0], CAR[1]]
    return (road & ~body).sum(axis=(-2, -1)) / np.maximum((~body).sum(axis=(-2, -1)), 1)


def on_road(frames: np.ndarray) -> np.ndarray:
    """Whether the car is on the road (bool per frame)."""
    return road_under_car(frames) >= ROAD_UNDER_MIN


def road_ahead(frames: np.ndarray) -> np.ndarray:
    """Share of road pixels in the stretch ahead of the car."""
    return _share(frames, AHEAD)


def road_share(frames: np.ndarray) -> np.ndarray:
    """Share of road pixels in the whole picture above the strip."""
    return road_mask(frames)[..., :STRIP_TOP, :].mean(axis=(-2, -1))


def speed(frames: np.ndarray) -> np.ndarray:
    """Speed in m/s read from the speed bar (0 when it is dark)."""
    bar = at_probe_size(frames)[..., SPEED_BAR[0], SPEED_BAR[1], :].astype(np.float64).mean(-1).sum(axis=(-2, -1)) / 255
    return np.maximum(SPEED_GAIN * bar + SPEED_OFFSET, 0.0)


def steering(frames: np.ndarray) -> np.ndarray:
    """Steering from the green bar: negative left, positive right, in bar pixels from the centre."""
    strip = at_probe_size(frames)[..., STRIP_TOP:, :, :].astype(np.int16)
    green = (strip[..., 1] > 120) & (strip[..., 0] < 100) & (strip[..., 2] < 100)
    cols = green.any(axis=-2)  # (..., 64)
    right = cols[..., SIZE // 2 :].sum(-1)
    left = cols[..., : SIZE // 2].sum(-1)
    return (right - left).astype(np.float64)
