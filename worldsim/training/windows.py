"""Training batches: random windows of consecutive frames (as latents) with frame-aligned actions.

Frame ``f`` of a window is paired with the step that *produced* it: its action, reward and termination
flag are those of step ``start + f - 1``. The first frame of an episode has no producing step; it gets
the null action and ``has_action = False`` (its reward/termination are not trained).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from worldsim.data.dataset import Dataset
from worldsim.errors import DatasetError


@dataclass
class Batch:
    """A batch of windows; every tensor is ``(B, F, ...)``."""

    latents: torch.Tensor  # (B, F, C, h, w) float32
    actions: torch.Tensor  # (B, F) long, null id where unknown
    rewards: torch.Tensor  # (B, F) float32
    terminated: torch.Tensor  # (B, F) float32
    has_action: torch.Tensor  # (B, F) float32
    boxes: torch.Tensor  # (B, F, h, w) float32: 1 where a latent position touches a labelled box (0 without labels)

    def to(self, device: torch.device) -> Batch:
        """Move every tensor to ``device``."""
        return Batch(*(getattr(self, k).to(device, non_blocking=True) for k in self.__dataclass_fields__))

    def cat(self, other: Batch) -> Batch:
        """This batch's windows followed by ``other``'s."""
        return Batch(*(torch.cat([getattr(self, k), getattr(other, k)]) for k in self.__dataclass_fields__))


class WindowBatcher:
    """Samples windows of ``length`` frames from one split, uniformly over valid start positions.

    ``boxes=False`` leaves the windows' label masks empty (:func:`read_window`): only a loss that weighs labels
    reads them. ``empty_share`` of each batch is drawn from the windows whose frames before the last hold no
    labelled box (:func:`empty_windows`) instead, each action ending them equally often: there only the action
    decides what comes next, and the rare action that changes it is the one to learn (Breakout's fire ends 164 of
    the 7,265 such windows of docs/model.md's counterfactual data). The draw depends on the frames before the last and
    the last action, never on the last frame itself, so it shifts what the world practises, not what it should draw
    for a given context and action.
    """

    def __init__(
        self,
        ds: Dataset,
        latents: list[np.ndarray],
        length: int,
        null_action: int,
        split: Literal["train", "val"] = "train",
        boxes: bool = True,
        empty_share: float = 0.0,
    ) -> None:
        self.ds, self.latents, self.length, self.null, self.boxes = ds, latents, length, null_action, boxes
        self.empty_share = empty_share
        self.episodes = [i for i in ds.split(split) if ds.episodes[i].num_steps + 1 >= length]
        if not self.episodes:
            raise DatasetError(f"{ds.root}: no {split} episode has {length} frames; use a shorter window")
        # Start positions per episode: frames 0 .. T+1-length; weights make every window equally likely.
        self.weights = np.array([ds.episodes[i].num_steps + 2 - length for i in self.episodes], dtype=np.float64)
        self.weights /= self.weights.sum()
        self.empty = empty_windows(ds, self.episodes, length) if empty_share > 0 else []
        if empty_share > 0 and not self.empty:
            raise DatasetError(
                f"{ds.root}: no {split} window of {length} frames is free of labelled objects; drop empty_share"
            )
        last = np.array(
            [read_window(ds, latents, e, s, length, null_action, boxes=False)[1][-1] for e, s in self.empty], np.int64
        )
        #: the empty windows grouped by the action that made their last frame
        self.empty_by_action = [np.flatnonzero(last == a) for a in np.unique(last)]

    def window(self, episode: int, start: int) -> tuple[np.ndarray, ...]:
        """Arrays of one window: latents, actions, rewards, terminated, has_action, boxes."""
        return read_window(self.ds, self.latents, episode, start, self.length, self.null, self.boxes)

    def sample(self, rng: np.random.Generator, batch_size: int) -> Batch:
        """``batch_size`` random windows (``empty_share`` of them from :func:`empty_windows`)."""
        n_empty = round(batch_size * self.empty_share)
        eps = rng.choice(len(self.episodes), size=batch_size - n_empty, p=self.weights)
        items = []
        for g in rng.integers(0, len(self.empty_by_action), size=n_empty) if n_empty else []:
            group = self.empty_by_action[int(g)]
            items.append(self.window(*self.empty[int(group[rng.integers(0, len(group))])]))
        for e in eps:
            episode = self.episodes[int(e)]
            start = int(rng.integers(0, self.ds.episodes[episode].num_steps + 2 - self.length))
            items.append(self.window(episode, start))
        return stack_windows(items)


def empty_windows(ds: Dataset, episodes: list[int], length: int) -> list[tuple[int, int]]:
    """``(episode, start)`` of the windows whose frames before the last hold no labelled box.

    Breakout: no ball in play (and no score change); Doom: no monster in sight. There only the action decides what
    comes next (fire serves, a still paddle keeps the field empty), and a data's players leave such states fast: the
    scripted Breakout player fires as soon as the ball is lost, so a world can learn "a ball comes back after a
    while" instead of "fire brings it back" (docs/model.md, "the world serves the ball by itself").
    """
    from worldsim.codec.loss import label_mask

    out = []
    for e in episodes:
        ref = ds.episodes[e]
        shard = ds.shards[ref.shard]
        if "labels" not in shard.arrays:
            return []
        f0 = int(shard.frame_starts[ref.index])
        labels = np.asarray(shard.arrays["labels"][f0 : f0 + ref.num_steps + 1])
        # a box counts where it is in the frame (a ball below the paddle keeps its row but leaves the picture)
        boxed = label_mask(labels, *ds.resolution).numpy().any(axis=(1, 2, 3)).astype(np.int64)  # (T + 1,)
        # windows start .. start + length - 1; frames start .. start + length - 2 must hold no box
        run = np.convolve(boxed, np.ones(length - 1, np.int64), mode="valid")  # boxes in each span of length - 1
        out += [(e, int(s)) for s in np.flatnonzero(run[: len(boxed) - length + 1] == 0)]
    return out


def stack_windows(items: list[tuple[np.ndarray, ...]]) -> Batch:
    """A :class:`Batch` of windows as :func:`read_window` returns them."""
    z, a, r, d, has, boxes = (np.stack(x) for x in zip(*items, strict=True))
    return Batch(
        torch.from_numpy(z),
        torch.from_numpy(a.astype(np.int64)),
        torch.from_numpy(r.astype(np.float32)),
        torch.from_numpy(d.astype(np.float32)),
        torch.from_numpy(has.astype(np.float32)),
        torch.from_numpy(boxes.astype(np.float32)),
    )


def read_window(
    ds: Dataset,
    latents: list[np.ndarray],
    episode: int,
    start: int,
    length: int,
    null_action: int,
    boxes: bool = True,
) -> tuple[np.ndarray, ...]:
    """Frames ``start .. start + length - 1`` of ``episode``: latents, actions, rewards, terminated, has_action, boxes.

    Frame ``f`` is paired with the step that produced it; frame 0 of an episode has none (null action, 0 reward).
    ``boxes`` ``(F, h, w)`` marks the latent positions that touch a box of the dataset's labels (zeros when the
    dataset records none, or with ``boxes=False``: a loss that does not weigh labels need not draw them).
    """
    ref = ds.episodes[episode]
    shard = ds.shards[ref.shard]
    f0, s0 = int(shard.frame_starts[ref.index]), int(shard.step_starts[ref.index])
    z = np.asarray(latents[ref.shard][f0 + start : f0 + start + length], dtype=np.float32)
    steps = np.arange(start - 1, start - 1 + length)  # step that produced each frame
    has = steps >= 0
    idx = s0 + np.maximum(steps, 0)
    a = np.where(has, np.asarray(shard.arrays["actions"][idx]), null_action)
    r = np.where(has, np.asarray(shard.arrays["rewards"][idx]), 0.0)
    d = np.where(has, np.asarray(shard.arrays["terminated"][idx]), 0)
    marks = np.zeros((length, *z.shape[-2:]), np.float32)
    if boxes and "labels" in shard.arrays:
        rows = np.asarray(shard.arrays["labels"][f0 + start : f0 + start + length])
        marks = latent_boxes(rows, ds.resolution, z.shape[-2:])
    return z, a, r, d, has, marks


def latent_boxes(labels: np.ndarray, resolution: tuple[int, int], grid: tuple[int, ...]) -> np.ndarray:
    """``(F, h, w)`` float: 1 where a latent position's pixels touch a labelled box of its frame, else 0."""
    from worldsim.codec.loss import label_mask

    (height, width), (h, w) = resolution, grid
    mask = label_mask(labels, height, width).numpy()[:, 0]  # (F, H, W)
    return mask.reshape(len(labels), h, height // h, w, width // w).any(axis=(2, 4)).astype(np.float32)
