"""Highway probes: the ego car (there, crashed), its lane and the traffic, read from 64x64 frames.

highway-env's camera follows the ego car, so it is always at the centre of the frame: a green box of about 6x2
pixels at rows 31-32. A crashed car is drawn red (the ego and whoever it hit), other cars blue. On the
``highway`` road the lanes run across the frame: solid edge lines and dashed lane lines, one lane every 6 rows.
"""

from __future__ import annotations

import numpy as np

from worldsim.probes.frames import at_probe_size

EGO = (slice(28, 36), slice(26, 40))  # rows, cols around the ego car
EGO_ROW = 31.5
MIN_PIXELS = 3  # pixels of a colour in the ego box that count as a car there
LINE_MIN = 20  # light pixels a row needs to count as a lane line (dashes cover about 44 of 64)


def _colours(frames: np.ndarray) -> dict[str, np.ndarray]:
    x = at_probe_size(frames).astype(np.int16)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return {
        "green": (g > 150) & (r < 120) & (b < 120),
        "red": (r > 140) & (r - g > 50) & (r - b > 50),
        "blue": (b > 180) & (b - r > 40),
        "light": x.min(axis=-1) > 150,
    }


def crashed(frames: np.ndarray) -> np.ndarray:
    """Whether the ego car is drawn crashed (red at the centre) (bool ``(...)``)."""
    red = _colours(frames)["red"][..., EGO[0], EGO[1]]
    return red.sum(axis=(-2, -1)) >= MIN_PIXELS


def ego_visible(frames: np.ndarray) -> np.ndarray:
    """Whether the ego car is drawn at the centre at all, green or crashed (bool ``(...)``)."""
    c = _colours(frames)
    car = (c["green"] | c["red"])[..., EGO[0], EGO[1]]
    return car.sum(axis=(-2, -1)) >= MIN_PIXELS


def traffic(frames: np.ndarray) -> np.ndarray:
    """Pixels of other (blue) cars in the frame (``(...)``; a car is about 6-12 of them)."""
    return _colours(frames)["blue"].sum(axis=(-2, -1)).astype(np.float64)


def lane(frames: np.ndarray) -> np.ndarray:
    """Ego lane counted from the top edge line (0 = top lane), NaN where no lane lines show (other road types)."""
    light = _colours(frames)["light"].sum(axis=-1) >= LINE_MIN  # (..., 64) line rows
    flat = light.reshape(-1, light.shape[-1])
    out = np.full(len(flat), np.nan)
    for i, rows in enumerate(flat):
        r = np.flatnonzero(rows)
        if len(r) < 2:
            continue
        starts = r[np.concatenate([[True], np.diff(r) > 1])]  # one row per line (a line may be 2 rows thick)
        above = int((starts < EGO_ROW).sum())
        if 1 <= above < len(starts):  # between the edge lines
            out[i] = above - 1
    return out.reshape(light.shape[:-1])
