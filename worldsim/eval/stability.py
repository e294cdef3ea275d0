"""Closed-loop stability: does a long free-running rollout stay on the data's distribution?

Open-loop metrics stop at 64 frames. A shipped world must survive a player holding keys for minutes, so this
runs ``streams`` rollouts of ``frames`` frames each under random held actions (as players hold keys) and
checks every frame against the real data: no NaN, no collapse to a flat colour, and per-channel colour means
inside the range the real frames span.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from tqdm import tqdm

from worldsim.actions import action_stream
from worldsim.data.dataset import Dataset
from worldsim.errors import GenerationError
from worldsim.sampling.simulator import Simulator

log = logging.getLogger(__name__)


def real_color_stats(dataset: Dataset, frames: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Per-frame channel means and pixel std of ``frames`` random real frames; their 0.5/99.5 percentiles."""
    rng = np.random.default_rng(seed)
    picked = []
    while sum(len(p) for p in picked) < frames:
        picked.append(dataset.sample_window(rng, 16).frames)
    x = np.concatenate(picked)[:frames].astype(np.float32)
    means, stds = x.mean(axis=(1, 2)), x.std(axis=(1, 2, 3))
    return {
        "frames": len(x),
        "mean_low": np.percentile(means, 0.5, axis=0).tolist(),
        "mean_high": np.percentile(means, 99.5, axis=0).tolist(),
        "std_low": float(np.percentile(stds, 0.5)),
    }


def closed_loop_stability(
    sim: Simulator,
    real: dict[str, Any],
    frames: int = 2000,
    hold_mean: int = 8,
    seed: int = 0,
    min_in_range: float = 0.95,
    progress: bool = True,
) -> dict[str, Any]:
    """Roll out every stream of ``sim`` for ``frames`` frames and score them against ``real`` statistics.

    Returns counts of NaN/flat/out-of-range frames, their fractions, the first frame each problem appeared, the
    in-range fraction of the last tenth of the frames (a world that collapses late still fails) and ``passed``
    (no NaN, no flat frame, at least ``min_in_range`` of all frames and of the last tenth in range).
    """
    b = sim.num_streams
    actions = np.stack([action_stream(frames, len(sim.schema), hold_mean, seed + i) for i in range(b)], 1)
    sim.seed(seed)
    sim.reset_from_starts(seed=seed)
    lo, hi = np.array(real["mean_low"]), np.array(real["mean_high"])
    margin = 0.05 * (hi - lo)  # a little slack: 2,000 frames may visit corners the sample of real frames missed
    flat_std = min(2.0, 0.5 * real["std_low"])
    nan = flat = out = tail_out = 0
    tail_from = frames - max(1, frames // 10)
    first: dict[str, int | None] = {"nan": None, "flat": None, "out_of_range": None}
    for t in tqdm(range(frames), desc="closed loop", unit="frame", disable=not progress):
        try:
            res = sim.step(actions[t])
        except GenerationError:  # NaN or inf: every frame from here on counts as lost
            first["nan"] = t if first["nan"] is None else first["nan"]
            nan += b * (frames - t)
            out += b * (frames - t)
            tail_out += b * (frames - max(t, tail_from))
            break
        x = res.frames.astype(np.float32)
        bad_nan = ~np.isfinite(res.reward) | ~np.isfinite(res.term_prob)
        m, s = x.mean(axis=(1, 2)), x.std(axis=(1, 2, 3))
        bad_flat = s < flat_std
        bad_out = ((m < lo - margin) | (m > hi + margin)).any(axis=1)
        for key, bad in (("nan", bad_nan), ("flat", bad_flat), ("out_of_range", bad_out)):
            if bad.any() and first[key] is None:
                first[key] = t
        nan, flat, out = nan + int(bad_nan.sum()), flat + int(bad_flat.sum()), out + int(bad_out.sum())
        if t >= tail_from:
            tail_out += int(bad_out.sum())
    total = frames * b
    in_range = 1 - out / total
    tail_in_range = 1 - tail_out / ((frames - tail_from) * b)
    return {
        "streams": b,
        "frames": frames,
        "nan_frames": nan,
        "flat_frames": flat,
        "out_of_range_frames": out,
        "in_range_fraction": round(in_range, 4),
        "tail_in_range_fraction": round(tail_in_range, 4),
        "first_problem_frame": first,
        "acceptance_rate": round(sim.acceptance_rate, 3),
        "passed": nan == 0 and flat == 0 and min(in_range, tail_in_range) >= min_in_range,
        "real": real,
    }
