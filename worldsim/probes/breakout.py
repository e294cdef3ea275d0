"""Breakout probes: the ball (present, position), the paddle, the bricks and the score, read from 64x64 frames.

Atari frames are 210x160; at 64x64 the 2x4-pixel ball is a faint red blob about one pixel across, which is
exactly what a world model tends to lose. The ball is the only red thing in the open field (the red, orange and
yellow brick rows are above it, the paddle and the wall corners below), so the probe takes the strongest excess
of red over the other channels there and its weighted centre.

Checked against the console RAM on 2,000 frames of 5 real episodes (scripted and random play, seeds 0-4): the
ball is found in 98.6% of the frames where it is in the open field and never where there is none; its centre is
within 0.1 pixel of the RAM position (median); the paddle within 1 pixel (``tests/test_probes.py`` re-checks on
other seeds).
"""

from __future__ import annotations

import numpy as np

from worldsim.probes.frames import PROBE_SIZE, at_probe_size

SIZE = PROBE_SIZE
SCORE_ROWS = slice(0, 6)
BRICK_ROWS = slice(17, 29)
PADDLE_ROWS = slice(57, 60)
PADDLE_COLS = slice(4, 60)  # the wall corners beside the paddle row are red too
BALL_MIN_RED = 10.0  # red excess (grey levels) of the ball's brightest pixel; the empty field has 0


def _red(frames: np.ndarray) -> np.ndarray:
    x = at_probe_size(frames).astype(np.float32)
    return np.clip(x[..., 0] - np.maximum(x[..., 1], x[..., 2]), 0, None)


_FIELD = np.zeros((SIZE, SIZE), bool)
_FIELD[6:17, 2:62] = True  # above the bricks (once the ball breaks through)
_FIELD[24:56, 2:62] = True  # below the red-to-yellow rows, above the paddle


def ball(frames: np.ndarray) -> dict[str, np.ndarray]:
    """The ball of each frame: ``present``, its centre ``y``, ``x`` (64x64 pixel units, nan when absent), ``peak``.

    ``peak`` is the brightest red excess in the field: a ball a player sees is 30 or more, while faint smears also
    pass ``BALL_MIN_RED``.
    """
    red = _red(frames) * _FIELD
    flat = red.reshape(-1, SIZE * SIZE)
    peak = flat.argmax(1)
    present = flat.max(1) > BALL_MIN_RED
    ys, xs = np.full(len(flat), np.nan), np.full(len(flat), np.nan)
    grid = red.reshape(-1, SIZE, SIZE)
    for i in np.flatnonzero(present):
        y, x = divmod(int(peak[i]), SIZE)
        y0, x0 = max(y - 2, 0), max(x - 2, 0)
        win = grid[i, y0 : y + 3, x0 : x + 3]
        yy, xx = np.mgrid[y0 : y0 + win.shape[0], x0 : x0 + win.shape[1]]
        ys[i] = (win * yy).sum() / win.sum() + 0.5
        xs[i] = (win * xx).sum() / win.sum() + 0.5
    shape = np.asarray(frames).shape[:-3]
    return {
        "present": present.reshape(shape), "y": ys.reshape(shape), "x": xs.reshape(shape),
        "peak": flat.max(1).reshape(shape),
    }  # fmt: skip


def paddle_x(frames: np.ndarray) -> np.ndarray:
    """The paddle's centre column (64x64 pixel units)."""
    band = _red(frames)[..., PADDLE_ROWS, PADDLE_COLS].sum(-2)
    cols = np.arange(PADDLE_COLS.start, PADDLE_COLS.stop) + 0.5
    return (band * cols).sum(-1) / np.maximum(band.sum(-1), 1e-6)


def bricks(frames: np.ndarray) -> np.ndarray:
    """Share of the brick band still coloured (1.0 = the full wall)."""
    x = at_probe_size(frames)[..., BRICK_ROWS, 2:62, :].astype(np.int16)
    return ((x.max(-1) - x.min(-1)) > 30).mean(axis=(-2, -1)) / 0.97  # 97% of the band is brick in a full wall


def score_changed(frames: np.ndarray) -> np.ndarray:
    """Whether the score digits differ from the previous frame's (False for the first frame)."""
    digits = at_probe_size(frames)[..., SCORE_ROWS, :, :].astype(np.int16)
    change = np.zeros(digits.shape[:-3], bool)
    change[..., 1:] = np.abs(np.diff(digits, axis=-4)).max(axis=(-3, -2, -1)) > 24
    return change


def serves(present: np.ndarray, idle: int = 12, stay: int = 3) -> np.ndarray:
    """How many times a ball comes into play along the last axis of ``present`` (one row per stream).

    A ball comes into play when it is there for ``stay`` frames after ``idle`` frames without one: in the real game
    only fire does that (167 of 170 such balls in 60,000 frames came within 8 frames of a fire, most on the frame
    fire made), so a world that serves while the player does not fire serves by itself. A ball hidden for a few
    frames (in the brick band) is not a new one.
    """
    p = np.asarray(present, bool)
    p = p.reshape(-1, p.shape[-1])
    out = np.zeros(len(p), int)
    for i, row in enumerate(p):
        absent = 0
        for t, there in enumerate(row):
            out[i] += bool(there and absent >= idle and row[t : t + stay].all())
            absent = 0 if there else absent + 1
    return out.reshape(np.asarray(present).shape[:-1])
