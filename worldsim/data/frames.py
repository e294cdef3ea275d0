"""Single frames of a dataset split, read on demand (what the codec and refiner trainers sample)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch

from worldsim.codec.autoencoder import to_model
from worldsim.codec.loss import background_frame
from worldsim.data.dataset import Dataset


class FrameSampler:
    """Frames of one split of a dataset, read on demand from the memory-mapped shards.

    Only two small index arrays (shard and row of every frame in the split) live in RAM.
    """

    def __init__(self, ds: Dataset, split: Literal["train", "val"]) -> None:
        self.ds = ds
        shards, rows, firsts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, bool)]
        for i in ds.split(split):
            ref = ds.episodes[i]
            starts = ds.shards[ref.shard].frame_starts
            f0, f1 = int(starts[ref.index]), int(starts[ref.index + 1])
            shards.append(np.full(f1 - f0, ref.shard, np.int64))
            rows.append(np.arange(f0, f1, dtype=np.int64))
            firsts.append(np.arange(f0, f1) == f0)
        self.shard = np.concatenate(shards)
        self.row = np.concatenate(rows)
        self.first = np.concatenate(firsts)  # episode starts: they have no previous frame

    def __len__(self) -> int:
        return len(self.row)

    def take(self, index: np.ndarray) -> np.ndarray:
        """Frames ``index`` of the split as uint8 ``[N, H, W, 3]``, in the order given."""
        h, w = self.ds.resolution
        return self._gather("frames", index, np.empty((len(index), h, w, 3), np.uint8))

    def _gather(self, name: str, index: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Rows ``index`` of the per-frame array ``name`` into ``out`` (leading slots, for shards with fewer)."""
        shard, row = self.shard[index], self.row[index]
        for s in np.unique(shard):
            pos = np.flatnonzero(shard == s)
            pos = pos[np.argsort(row[pos], kind="stable")]  # ascending rows: sequential reads of the file
            rows = self.ds.shards[int(s)].arrays[name][row[pos]]
            out[(pos, *(slice(0, n) for n in rows.shape[1:]))] = rows
        return out

    @property
    def has_labels(self) -> bool:
        """Whether every shard of the dataset records per-frame labels (docs/dataset.md)."""
        return self.ds.has_labels

    def labels(self, index: np.ndarray) -> np.ndarray:
        """Label rows ``[N, K, 5]`` of frames ``index`` (requires :attr:`has_labels`; shards padded to one ``K``)."""
        k = max(int(s.arrays["labels"].shape[1]) for s in self.ds.shards)
        return self._gather("labels", index, np.zeros((len(index), k, 5), np.float32))

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Indices of ``n`` uniformly random frames (with replacement)."""
        return rng.integers(0, len(self), n)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniformly random frames (with replacement)."""
        return self.take(self.draw(rng, n))

    def sample_with_previous(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` random frames (the same draw as :meth:`sample`) and the frame before each in its episode.

        An episode's first frame is its own previous frame.
        """
        index = self.draw(rng, n)
        return self.take(index), self.take(self.previous(index))

    def previous(self, index: np.ndarray) -> np.ndarray:
        """Index of the frame before each of ``index`` in its episode (an episode's first frame is its own)."""
        return index - ~self.first[index]

    def spread(self, n: int) -> np.ndarray:
        """Indices of up to ``n`` frames evenly spread over the split (deterministic)."""
        return np.unique(np.linspace(0, len(self) - 1, min(n, len(self))).round().astype(np.int64))

    def background(self, n: int) -> torch.Tensor:
        """Per-pixel median ``(1, 3, H, W)`` (model units) of up to ``n`` frames spread over the split."""
        return background_frame(to_model(self.take(self.spread(n))))

    def batches(self, index: np.ndarray, batch_size: int = 256) -> Iterator[np.ndarray]:
        """Frames ``index`` in chunks of ``batch_size``."""
        for i in range(0, len(index), batch_size):
            yield self.take(index[i : i + batch_size])
