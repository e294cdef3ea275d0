"""Start states: short windows of real frames (and the actions that led to them) a simulation starts from.

A learned world cannot invent its first frames: every episode of the Gym env, every play session and every
rollout starts from real context frames. Each shipped world carries a few hundred of them in
``starts.safetensors`` (uint8 ``frames (N, F, H, W, 3)``, int64 ``actions (N, F)``, the action schema in the
metadata), cut from held-out episodes of its dataset. The action of the first frame of an episode is the
"unknown" id ``num_actions``, which the dynamics model was trained with (action dropout).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from worldsim.actions import ActionSchema
from worldsim.checkpoint import load_checkpoint, save_checkpoint
from worldsim.errors import CheckpointError, DatasetError

STARTS_KIND = "starts"


@dataclass
class StartOrigins:
    """Where each start came from: ``reset(seed=seeds[i])`` then ``actions_of(i)`` reaches its last frame.

    Attributes:
        seeds: int64 ``(N,)`` simulator seed of each start's episode (-1: unknown, e.g. imported data).
        actions: int64 ``(M,)``: every start's actions from the reset, concatenated.
        offsets: int64 ``(N + 1,)``: start ``i``'s actions are ``actions[offsets[i]:offsets[i + 1]]``.
        world_config: The simulator's config the episodes were recorded with (``make_world`` keyword arguments).
    """

    seeds: np.ndarray
    actions: np.ndarray
    offsets: np.ndarray
    world_config: dict

    def __post_init__(self) -> None:
        n = len(self.seeds)
        if self.offsets.shape != (n + 1,) or self.offsets[0] != 0 or self.offsets[-1] != len(self.actions):
            raise ValueError(f"origin offsets {self.offsets.shape} do not index {len(self.actions)} actions")
        if np.any(np.diff(self.offsets) < 0):
            raise ValueError("origin offsets must not decrease")

    def replay(self, index: int) -> tuple[int, np.ndarray] | None:
        """``(seed, actions)`` that bring the real simulator to start ``index``; None when it is unknown."""
        seed = int(self.seeds[index])
        if seed < 0:
            return None
        return seed, self.actions[self.offsets[index] : self.offsets[index + 1]]


@dataclass
class StartStates:
    """``N`` start windows of ``F`` real frames each.

    Attributes:
        frames: uint8 ``(N, F, H, W, 3)``.
        actions: int64 ``(N, F)``: the action that led to each frame (``len(schema)`` = unknown).
        schema: Action schema of the world the frames come from.
        origins: How to reach each start in the real simulator (None: not recorded).
    """

    frames: np.ndarray
    actions: np.ndarray
    schema: ActionSchema
    origins: StartOrigins | None = None

    def __post_init__(self) -> None:
        if self.frames.ndim != 5 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
            raise ValueError(f"start frames must be uint8 (N, F, H, W, 3), got {self.frames.dtype} {self.frames.shape}")
        if self.actions.shape != self.frames.shape[:2]:
            raise ValueError(f"start actions {self.actions.shape} do not match frames {self.frames.shape[:2]}")
        if self.origins is not None and len(self.origins.seeds) != len(self.frames):
            raise ValueError(f"{len(self.origins.seeds)} start origins for {len(self.frames)} starts")

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

    def origin(self, index: int) -> tuple[int, np.ndarray] | None:
        """``(seed, actions)`` that bring the real simulator to start ``index``, or None (see :class:`StartOrigins`)."""
        return None if self.origins is None else self.origins.replay(index)

    def save(self, path: str | Path) -> None:
        """Write ``starts.safetensors`` atomically."""
        tensors = {
            "frames": torch.from_numpy(np.ascontiguousarray(self.frames)),
            "actions": torch.from_numpy(np.ascontiguousarray(self.actions)),
        }
        meta: dict = {"action_schema": self.schema.to_dict()}
        if self.origins is not None:
            o = self.origins
            tensors.update(
                origin_seeds=torch.from_numpy(o.seeds.astype(np.int64)),
                origin_actions=torch.from_numpy(o.actions.astype(np.int64)),
                origin_offsets=torch.from_numpy(o.offsets.astype(np.int64)),
            )
            meta["world_config"] = o.world_config
        save_checkpoint(path, tensors, kind=STARTS_KIND, **meta)

    @classmethod
    def load(cls, path: str | Path) -> StartStates:
        """Read a starts file; errors name the file and the fix."""
        tensors, meta = load_checkpoint(path, kind=STARTS_KIND)
        try:
            origins = None
            if "origin_seeds" in tensors:
                origins = StartOrigins(
                    tensors["origin_seeds"].numpy().astype(np.int64),
                    tensors["origin_actions"].numpy().astype(np.int64),
                    tensors["origin_offsets"].numpy().astype(np.int64),
                    dict(meta["world_config"]),
                )
            return cls(tensors["frames"].numpy(), tensors["actions"].numpy().astype(np.int64), _schema(meta), origins)
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            msg = f"{path}: invalid start states ({e}); regenerate them (scripts/package_world.py)"
            raise CheckpointError(msg) from None

    @classmethod
    def from_dataset(
        cls,
        dataset,
        count: int = 256,
        frames: int = 4,
        seed: int = 0,
        split: str | None = "val",
        min_offset: int = 0,
        accept: Callable[[np.ndarray], bool] | None = None,
        from_rest: float = 0.0,
    ) -> StartStates:
        """Cut ``count`` windows of ``frames`` real frames from ``split`` episodes of a :class:`Dataset`.

        Windows are spread over episodes round-robin; within an episode the window start is random but at least
        ``min_offset`` frames in (skipping e.g. a zoom-in or a loading screen). ``split=None`` uses every episode
        (a dataset recorded for start states alone, with seeds no training run used). ``accept`` judges a
        window's last frame (e.g. CarRacing: road under and ahead of the car); rejected windows are redrawn.
        ``from_rest`` is the share of windows cut at the very start of an episode (the car at rest, the ball not
        served yet), so agents trained from the starts also learn to get going.
        Episodes recorded with their simulator seed give the starts their :class:`StartOrigins`.
        """
        rng = np.random.default_rng(seed)
        need = frames + min_offset

        def usable(name: str | None) -> list[int]:
            pool = range(len(dataset)) if name is None else dataset.split(name)
            return [i for i in pool if dataset.episodes[i].num_steps + 1 >= need]

        episodes = usable(split) or usable("train")
        if not episodes:
            raise DatasetError(f"{dataset.root}: no episode has {need} frames for start states")
        unknown = len(dataset.schema)
        config = dataset.meta.get("collect", {}).get("settings", {}).get("world_config")
        out_f, out_a, seeds, prefixes = [], [], [], []
        order = rng.permutation(episodes)
        tries = 0
        while len(out_f) < count:
            if tries >= 50 * count:
                raise DatasetError(
                    f"{dataset.root}: only {len(out_f)} of {count} start windows pass the start check after {tries} "
                    "draws; record more episodes or ask for fewer starts"
                )
            ep = dataset.episode(int(order[tries % len(order)]))
            tries += 1
            rest = rng.random() < from_rest
            s = min_offset if rest else int(rng.integers(min_offset, ep.num_steps + 1 - frames + 1))
            window = np.array(ep.frames[s : s + frames])
            if accept is not None and not accept(window[-1]):
                continue
            acts = np.array([ep.actions[s - 1] if s > 0 else unknown, *ep.actions[s : s + frames - 1]], dtype=np.int64)
            out_f.append(window)
            out_a.append(acts)
            known = config is not None and ep.seed >= 0
            seeds.append(int(ep.seed) if known else -1)
            last = s + frames - 1  # frame k of an episode is reached by its first k actions
            prefixes.append(np.asarray(ep.actions[:last], dtype=np.int64) if known else np.zeros(0, np.int64))
        origins = None
        if any(x >= 0 for x in seeds):
            offsets = np.concatenate([[0], np.cumsum([len(a) for a in prefixes])]).astype(np.int64)
            origins = StartOrigins(np.array(seeds, np.int64), np.concatenate(prefixes), offsets, dict(config))
        return cls(np.stack(out_f), np.stack(out_a), dataset.schema, origins)


def _schema(meta: dict) -> ActionSchema:
    return ActionSchema.from_dict(meta["action_schema"])
