"""Start states: short windows of real frames (and the actions that led to them) a simulation starts from.

A learned world cannot invent its first frames: every episode of the Gym env, every play session and every
rollout starts from real context frames. Each shipped world carries a few hundred of them in
``starts.safetensors`` (uint8 ``frames (N, F, H, W, 3)``, int64 ``actions (N, F)``, the action schema in the
metadata), cut from held-out episodes of its dataset. The action of the first frame of an episode is the
"unknown" id ``num_actions``, which the dynamics model was trained with (action dropout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worldsim.actions import ActionSchema
from worldsim.checkpoint import load_checkpoint, save_checkpoint
from worldsim.errors import CheckpointError, DatasetError

STARTS_KIND = "starts"


@dataclass
class StartStates:
    """``N`` start windows of ``F`` real frames each.

    Attributes:
        frames: uint8 ``(N, F, H, W, 3)``.
        actions: int64 ``(N, F)``: the action that led to each frame (``len(schema)`` = unknown).
        schema: Action schema of the world the frames come from.
    """

    frames: np.ndarray
    actions: np.ndarray
    schema: ActionSchema

    def __post_init__(self) -> None:
        if self.frames.ndim != 5 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"start frames must be uint8 (N, F, H, W, 3), got {self.frames.dtype} {self.frames.shape}")
        if self.actions.shape != self.frames.shape[:2]:
            raise ValueError(f"start actions {self.actions.shape} do not match frames {self.frames.shape[:2]}")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def resolution(self) -> tuple[int, int]:
        """``(height, width)`` of the frames."""
        return int(self.frames.shape[2]), int(self.frames.shape[3])

    def pick(self, seed: int | None) -> int:
        """Index of the start for ``seed`` (any int; None draws one from fresh entropy)."""
        return int(np.random.default_rng(seed).integers(len(self)))

    def get(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``(F, H, W, 3)`` and actions ``(F,)`` of start ``index``."""
        return self.frames[index], self.actions[index]

    def save(self, path: str | Path) -> None:
        """Write ``starts.safetensors`` atomically."""
        save_checkpoint(
            path,
            {"frames": torch.from_numpy(np.ascontiguousarray(self.frames)), "actions": torch.from_numpy(self.actions)},
            kind=STARTS_KIND,
            action_schema=self.schema.to_dict(),
        )

    @classmethod
    def load(cls, path: str | Path) -> StartStates:
        """Read a starts file; errors name the file and the fix."""
        tensors, meta = load_checkpoint(path, kind=STARTS_KIND)
        try:
            return cls(tensors["frames"].numpy(), tensors["actions"].numpy().astype(np.int64), _schema(meta))
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            msg = f"{path}: invalid start states ({e}); regenerate them (scripts/package_world.py)"
            raise CheckpointError(msg) from None

    @classmethod
    def from_dataset(
        cls, dataset, count: int = 256, frames: int = 4, seed: int = 0, split: str = "val", min_offset: int = 0
    ) -> StartStates:
        """Cut ``count`` windows of ``frames`` real frames from ``split`` episodes of a :class:`Dataset`.

        Windows are spread over episodes round-robin; within an episode the window start is random but at least
        ``min_offset`` frames in (skipping e.g. a zoom-in or a loading screen).
        """
        rng = np.random.default_rng(seed)
        episodes = [i for i in dataset.split(split) if dataset.episodes[i].num_steps + 1 >= frames + min_offset]
        if not episodes:
            episodes = [i for i in dataset.split("train") if dataset.episodes[i].num_steps + 1 >= frames + min_offset]
        if not episodes:
            raise DatasetError(f"{dataset.root}: no episode has {frames + min_offset} frames for start states")
        unknown = len(dataset.schema)
        out_f, out_a = [], []
        order = rng.permutation(episodes)
        for k in range(count):
            ep = dataset.episode(int(order[k % len(order)]))
            s = int(rng.integers(min_offset, ep.num_steps + 1 - frames + 1))
            acts = np.array([ep.actions[s - 1] if s > 0 else unknown, *ep.actions[s : s + frames - 1]], dtype=np.int64)
            out_f.append(np.array(ep.frames[s : s + frames]))
            out_a.append(acts)
        return cls(np.stack(out_f), np.stack(out_a), dataset.schema)


def _schema(meta: dict) -> ActionSchema:
    return ActionSchema.from_dict(meta["action_schema"])
