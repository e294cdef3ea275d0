"""Reading datasets: ``meta.json`` plus memory-mapped shards, split into train/validation by episode."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from worldsim.actions import ActionSchema
from worldsim.data.shards import SHARD_GLOB, Episode, ShardReader
from worldsim.errors import DatasetError
from worldsim.io import atomic_write_json

DATASET_FORMAT = "worldsim-dataset/1"
META_FILE = "meta.json"
_META_KEYS = ("format", "world", "height", "width", "action_schema")


def write_meta(root: str | Path, meta: dict[str, Any]) -> None:
    """Atomically write a dataset's ``meta.json``."""
    atomic_write_json(Path(root) / META_FILE, {"format": DATASET_FORMAT, **meta})


def read_meta(root: str | Path) -> dict[str, Any]:
    """Read and check ``meta.json``; raise :class:`DatasetError` naming the file and the fix."""
    path = Path(root) / META_FILE
    if not Path(root).is_dir():
        raise DatasetError(
            f"{root}: dataset directory not found; create one with `worldsim collect` or `worldsim data import`"
        )
    if not path.is_file():
        raise DatasetError(f"{path}: missing; this is not a WorldSim dataset (create one with `worldsim collect`)")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(
            f"{path}: not valid JSON ({e}); restore it or re-run the collection into a new directory"
        ) from None
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise DatasetError(f"{path}: missing keys {missing}; restore it or re-run the collection into a new directory")
    if meta["format"] != DATASET_FORMAT:
        raise DatasetError(f"{path}: format {meta['format']!r} is not supported (expected {DATASET_FORMAT!r})")
    try:
        ActionSchema.from_dict(meta["action_schema"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DatasetError(f"{path}: invalid action_schema ({e})") from None
    for key in ("height", "width"):
        if isinstance(meta[key], bool) or not isinstance(meta[key], int) or meta[key] < 1:
            raise DatasetError(f"{path}: {key} must be a whole number of pixels >= 1, got {meta[key]!r}; restore it")
    if not isinstance(meta["world"], str):
        raise DatasetError(f"{path}: world must be a name, got {meta['world']!r}; restore it")
    val = meta.get("val_fraction", 0.05)
    if isinstance(val, bool) or not isinstance(val, int | float) or not 0 <= val < 1:
        raise DatasetError(f"{path}: val_fraction must be a number in [0, 1), got {val!r}; restore it")
    return meta


@dataclass(frozen=True)
class EpisodeRef:
    """Where an episode lives: shard number in the dataset and index in the shard."""

    shard: int
    index: int
    num_steps: int
    split: Literal["train", "val"]


def episode_split(shard_name: str, index: int, val_fraction: float) -> Literal["train", "val"]:
    """Deterministic train/val assignment of an episode, stable as shards are added."""
    h = zlib.crc32(f"{shard_name}/{index}".encode()) / 2**32
    return "val" if h < val_fraction else "train"


class Dataset:
    """A recorded dataset, read lazily: frames stay on disk (memory-mapped) until indexed.

    >>> ds = Dataset("data/carracing")          # doctest: +SKIP
    >>> ep = ds.episode(ds.split("val")[0])     # doctest: +SKIP
    >>> ep.frames.shape                         # doctest: +SKIP
    (501, 64, 64, 3)
    """

    def __init__(self, root: str | Path, val_fraction: float | None = None, verify: bool = True) -> None:
        self.root = Path(root)
        self.meta = read_meta(self.root)
        self.schema = ActionSchema.from_dict(self.meta["action_schema"])
        self.val_fraction = float(self.meta.get("val_fraction", 0.05) if val_fraction is None else val_fraction)
        self.shard_paths = sorted(self.root.glob(SHARD_GLOB))
        self.shards = [ShardReader(p) for p in self.shard_paths]
        if verify:  # once per shard as it is opened (one pass over the bytes): training never learns from rot
            for shard in self.shards:
                bad = shard.verify_checksums()
                if bad:
                    raise DatasetError(
                        f"{shard.path}: {', '.join(bad)} do not match their CRC32 (the shard is damaged); delete it "
                        f"and re-run `worldsim collect` with the same arguments (`worldsim data validate {self.root}`)"
                    )
        self.episodes: list[EpisodeRef] = []
        for s, shard in enumerate(self.shards):
            for i, n in enumerate(shard.arrays["episode_steps"]):
                split = episode_split(shard.path.name, i, self.val_fraction)
                self.episodes.append(EpisodeRef(s, i, int(n), split))
        if self.episodes and self.val_fraction > 0 and not self.split("val"):
            # Tiny datasets: make sure validation is never empty.
            last = self.episodes[-1]
            self.episodes[-1] = EpisodeRef(last.shard, last.index, last.num_steps, "val")

    @property
    def world(self) -> str:
        """Name of the world the data was recorded in."""
        return str(self.meta["world"])

    @property
    def resolution(self) -> tuple[int, int]:
        """``(height, width)`` of every frame."""
        return int(self.meta["height"]), int(self.meta["width"])

    @property
    def num_steps(self) -> int:
        """Total transitions across all shards."""
        return sum(e.num_steps for e in self.episodes)

    @property
    def num_frames(self) -> int:
        """Total stored frames (steps plus one reset frame per episode)."""
        return self.num_steps + len(self.episodes)

    @property
    def has_labels(self) -> bool:
        """Whether every shard records per-frame labels (what the simulator says each frame shows)."""
        return bool(self.shards) and all("labels" in s.arrays for s in self.shards)

    def __len__(self) -> int:
        return len(self.episodes)

    def split(self, name: Literal["train", "val"]) -> list[int]:
        """Indices of the episodes in split ``name``."""
        return [i for i, e in enumerate(self.episodes) if e.split == name]

    def episode(self, i: int) -> Episode:
        """Episode ``i`` (memory-mapped views)."""
        ref = self.episodes[i]
        return self.shards[ref.shard].episode(ref.index)

    def __iter__(self) -> Iterator[Episode]:
        for i in range(len(self)):
            yield self.episode(i)

    def sample_window(self, rng: np.random.Generator, length: int, split: Literal["train", "val"] = "train") -> Episode:
        """A random window of ``length`` consecutive frames (``length - 1`` actions), copied into RAM."""
        candidates = [i for i in self.split(split) if self.episodes[i].num_steps >= length - 1]
        if not candidates:
            raise DatasetError(f"{self.root}: no {split} episode has {length} frames; use a shorter window")
        weights = np.array([self.episodes[i].num_steps - length + 2 for i in candidates], dtype=np.float64)
        ep = self.episode(candidates[rng.choice(len(candidates), p=weights / weights.sum())])
        start = int(rng.integers(0, ep.num_steps - (length - 1) + 1))
        stop = start + length - 1
        return Episode(
            frames=np.array(ep.frames[start : stop + 1]),
            actions=np.array(ep.actions[start:stop]),
            rewards=np.array(ep.rewards[start:stop]),
            terminated=np.array(ep.terminated[start:stop]),
            truncated=np.array(ep.truncated[start:stop]),
            seed=ep.seed,
            policy=ep.policy,
        )

    def summary(self) -> dict[str, Any]:
        """Counts and settings for ``worldsim data info``."""
        rewards = [float(s.arrays["rewards"].sum()) for s in self.shards]
        return {
            "path": str(self.root),
            "world": self.world,
            "resolution": f"{self.resolution[0]}x{self.resolution[1]}",
            "actions": self.schema.names,
            "schema_fingerprint": self.schema.fingerprint,
            "source": self.meta.get("source", "?"),
            "shards": len(self.shards),
            "planned_shards": self.meta.get("collect", {}).get("num_shards"),
            "episodes": len(self.episodes),
            "train_episodes": len(self.split("train")),
            "val_episodes": len(self.split("val")),
            "steps": self.num_steps,
            "frames": self.num_frames,
            "size_mb": round(sum(p.stat().st_size for p in self.shard_paths) / 2**20, 1),
            "total_reward": round(sum(rewards), 3),
            "terminations": int(sum(int(s.arrays["terminated"].sum()) for s in self.shards)),
            "action_counts": self._action_counts(),
        }

    def _action_counts(self) -> dict[str, int]:
        counts = np.zeros(len(self.schema), dtype=np.int64)
        for s in self.shards:
            a = np.asarray(s.arrays["actions"])
            a = a[(a >= 0) & (a < len(self.schema))]
            counts += np.bincount(a, minlength=len(self.schema))
        return dict(zip(self.schema.names, counts.tolist(), strict=True))
