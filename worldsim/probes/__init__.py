"""State probes: what a frame shows (the car on the road, its speed, the ball), read from pixels alone.

Probes read real and generated frames the same way, so a model and the real simulator can be compared on the
state a player or a driving engineer cares about, not only on pixel error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Per-world probes: ``frames (..., H, W, 3) -> {name: values (...)}``; worlds without one have no entry.
Probe = Callable[[np.ndarray], dict[str, np.ndarray]]


def _carracing(frames: np.ndarray) -> dict[str, np.ndarray]:
    from worldsim.probes import carracing

    return {"speed": carracing.speed(frames), "on_road": carracing.on_road(frames)}


def _breakout(frames: np.ndarray) -> dict[str, np.ndarray]:
    from worldsim.probes import breakout

    found = breakout.ball(frames)
    return {
        "ball_present": found["present"],
        "ball_y": found["y"],
        "ball_x": found["x"],
        "paddle_x": breakout.paddle_x(frames),
        "bricks": breakout.bricks(frames),
        "score_changed": breakout.score_changed(frames),  # along the frame axis: frames must be (..., T, H, W, 3)
    }


def _highway(frames: np.ndarray) -> dict[str, np.ndarray]:
    from worldsim.probes import highway

    return {
        "crashed": highway.crashed(frames),
        "ego_visible": highway.ego_visible(frames),
        "lane": highway.lane(frames),
        "traffic": highway.traffic(frames),
    }


def _doom(frames: np.ndarray) -> dict[str, np.ndarray]:
    from worldsim.probes import doom

    return doom.enemies(frames)


PROBES: dict[str, Probe] = {"carracing": _carracing, "breakout": _breakout, "highway": _highway, "doom": _doom}

#: A probed speed below this (m/s) counts as stopped.
STOPPED_SPEED = 2.0
