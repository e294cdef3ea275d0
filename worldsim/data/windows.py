"""Evaluation windows: fixed-seed slices of validation episodes (context + horizon frames) and their contents.

``worldsim eval`` and the dynamics trainer's in-training evaluation pick the same windows from a seed.
"""

from __future__ import annotations

import numpy as np

from worldsim.data.dataset import Dataset
from worldsim.errors import DatasetError


def eval_windows(ds: Dataset, context: int, horizon: int, n: int, seed: int) -> list[tuple[int, int]]:
    """``(episode, start)`` of up to ``n`` validation windows of ``context + horizon`` frames."""
    rng = np.random.default_rng(seed)
    need = context + horizon
    eps = [i for i in ds.split("val") if ds.episodes[i].num_steps + 1 >= need]
    if not eps:
        raise DatasetError(
            f"{ds.root}: no validation episode has {need} frames ({context} context + {horizon} horizon); "
            "use a shorter --horizon"
        )
    picks = [eps[i % len(eps)] for i in rng.permutation(max(n, len(eps)))[:n]]
    return [(e, int(rng.integers(0, ds.episodes[e].num_steps + 2 - need))) for e in picks]


def gather(ds: Dataset, windows: list[tuple[int, int]], context: int, horizon: int, null: int) -> dict[str, np.ndarray]:
    """Frames, the actions that produced them, rewards and termination flags of each window."""
    out: dict[str, list] = {k: [] for k in ("frames", "actions", "rewards", "terminated")}
    for e, start in windows:
        ep = ds.episode(e)
        n = context + horizon
        steps = np.arange(start - 1, start - 1 + n)
        idx = np.maximum(steps, 0)
        out["frames"].append(np.asarray(ep.frames[start : start + n]))
        out["actions"].append(np.where(steps >= 0, np.asarray(ep.actions)[idx], null))
        out["rewards"].append(np.where(steps >= 0, np.asarray(ep.rewards)[idx], 0.0))
        out["terminated"].append(np.where(steps >= 0, np.asarray(ep.terminated)[idx], False))
    return {k: np.stack(v) for k, v in out.items()}
