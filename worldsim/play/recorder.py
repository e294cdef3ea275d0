"""Recording a play session: an mp4 of the view with the actions drawn on it, and dataset episodes.

A recording directory holds::

    play-20261121-221500.mp4     the view as shown (generated | reference), action and reward drawn on
    dataset/                     the generated frames and actions: a WorldSim dataset (meta.json + shards)
    dataset-real/                the real simulator's frames under the same actions, when it ran beside

Each recording adds one shard to each dataset (a reset during the recording starts a new episode; very long
episodes are cut every ``max_episode_steps`` and marked truncated), so ``worldsim data validate`` accepts the
directory and a play session can become training data. Every file is written atomically: the mp4 streams
into a temporary file that is renamed when the recording stops.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from worldsim.actions import ActionSchema
from worldsim.data.dataset import META_FILE, read_meta, write_meta
from worldsim.data.shards import SHARD_GLOB, Episode, shard_name, write_shard
from worldsim.errors import DatasetError
from worldsim.io import TMP_MARKER
from worldsim.video import upscale

log = logging.getLogger(__name__)


def label_frame(frame: np.ndarray, lines: list[str], scale: int = 4) -> np.ndarray:
    """Upscale ``frame`` (nearest) and draw ``lines`` of text in a dark band at the top (for videos)."""
    img = np.ascontiguousarray(upscale(np.asarray(frame, np.uint8), scale))
    font, size = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, 0.11 * scale)
    thick, line_h = 1, int(22 * size) + 4
    band = img[: line_h * len(lines) + 4]
    band[:] = (band * 0.35).astype(np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(img, text, (4, line_h * (i + 1)), font, size, (255, 255, 255), thick, cv2.LINE_AA)
    return img


class Mp4Stream:
    """Frames appended one by one to an mp4; the file appears (atomically) on :meth:`close`."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f"{self.path.stem}{TMP_MARKER}{os.getpid()}{self.path.suffix}")
        self.fps, self.writer, self.size, self.frames = float(fps), None, None, 0

    def write(self, frame: np.ndarray) -> None:
        """Append an RGB uint8 frame (all frames must have the first one's size)."""
        h, w = frame.shape[:2]
        if self.writer is None:
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot write mp4 here (no encoder)")
            self.size = (h, w)
        if (h, w) != self.size:
            frame = cv2.resize(frame, self.size[::-1], interpolation=cv2.INTER_NEAREST)
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> Path | None:
        """Finish the file; returns its path (None if no frame was written)."""
        if self.writer is None:
            return None
        self.writer.release()
        self.writer = None
        os.replace(self.tmp, self.path)
        return self.path


@dataclass
class _Open:
    """The episode being recorded."""

    frames: list[np.ndarray]
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    terminated: list[bool] = field(default_factory=list)


class EpisodeWriter:
    """Collects episodes of one stream and writes them as one shard of a dataset directory.

    Args:
        root: Dataset directory (created with ``meta.json`` if new; appended to if it holds the same actions).
        schema: The world's actions.
        resolution: ``(H, W)`` of the frames.
        fps: Steps per second (stored in ``meta.json``).
        source: Stored as the shards' ``source`` and the episodes' policy label, e.g. ``"play:generated"``.
        max_episode_steps: Longer episodes are cut here (truncated) and continue as a new episode.
        info: Extra shard metadata (e.g. the world model that generated the frames).
    """

    def __init__(
        self,
        root: str | Path,
        schema: ActionSchema,
        resolution: tuple[int, int],
        fps: float,
        source: str,
        max_episode_steps: int = 2000,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.root, self.schema, self.source = Path(root), schema, source
        self.info = dict(info or {})
        self.max_episode_steps = max_episode_steps
        self.episodes: list[Episode] = []
        self.open: _Open | None = None
        self._prepare(resolution, fps)

    def begin(self, frame: np.ndarray) -> None:
        """Start an episode at ``frame`` (ends the open one, truncated)."""
        self.end(terminated=False)
        self.open = _Open([np.array(frame, np.uint8)])

    def add(self, action: int, frame: np.ndarray, reward: float, terminated: bool) -> None:
        """Record one transition: ``action`` taken on the last frame led to ``frame``."""
        if self.open is None:
            raise RuntimeError("begin() an episode before adding steps")
        ep = self.open
        ep.actions.append(int(action))
        ep.frames.append(np.array(frame, np.uint8))
        ep.rewards.append(float(reward))
        ep.terminated.append(bool(terminated))
        if len(ep.actions) >= self.max_episode_steps:
            last = ep.frames[-1]
            self.end(terminated=False)
            self.open = _Open([last])

    def end(self, terminated: bool = False) -> None:
        """Close the open episode (marked truncated unless its last step terminated)."""
        ep, self.open = self.open, None
        if ep is None or not ep.actions:
            return
        n = len(ep.actions)
        term = np.array(ep.terminated, bool)
        term[-1] |= terminated
        trunc = np.zeros(n, bool)
        trunc[-1] = not term[-1]
        self.episodes.append(
            Episode(
                frames=np.stack(ep.frames),
                actions=np.array(ep.actions, np.int16),
                rewards=np.array(ep.rewards, np.float32),
                terminated=term,
                truncated=trunc,
                policy=self.source,
            )
        )

    @property
    def steps(self) -> int:
        """Transitions recorded so far (closed and open episodes)."""
        return sum(e.num_steps for e in self.episodes) + (len(self.open.actions) if self.open else 0)

    def close(self) -> Path | None:
        """End the open episode and write everything as the next shard; returns it (None if empty)."""
        self.end()
        if not self.episodes:
            return None
        index = max((int(p.stem.split("-")[1]) + 1 for p in self.root.glob(SHARD_GLOB)), default=0)
        path = self.root / shard_name(index)
        meta = {
            "world": self.schema.world,
            "schema_fingerprint": self.schema.fingerprint,
            "source": self.source,
            "shard_index": index,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **self.info,
        }
        write_shard(path, self.episodes, meta)
        self.episodes = []
        return path

    def _prepare(self, resolution: tuple[int, int], fps: float) -> None:
        h, w = resolution
        if (self.root / META_FILE).exists():
            meta = read_meta(self.root)
            old = ActionSchema.from_dict(meta["action_schema"])
            if old.fingerprint != self.schema.fingerprint or (meta["height"], meta["width"]) != (h, w):
                raise DatasetError(
                    f"{self.root}: holds data with actions {old.names} at {meta['height']}x{meta['width']}; "
                    f"this session has {self.schema.names} at {h}x{w}. Record into another directory"
                )
            return
        if self.root.exists() and any(self.root.iterdir()):
            raise DatasetError(f"{self.root} exists and is not a WorldSim dataset; record into another directory")
        write_meta(
            self.root,
            {
                "world": self.schema.world,
                "height": h,
                "width": w,
                "fps": fps,
                "action_schema": self.schema.to_dict(),
                "source": "play",
                "val_fraction": 0.05,
            },
        )


class Recorder:
    """One recording: the mp4 of the view plus the dataset episodes of the generated (and real) stream.

    Args:
        root: Recording directory.
        schema: The world's actions.
        resolution: ``(H, W)`` of the world's frames.
        fps: Frame rate of the video and the datasets.
        real: Also record the real simulator's frames (``dataset-real/``).
        scale: Upscaling of the video frames.
        info: Extra shard metadata (world model name, controller).
    """

    def __init__(
        self,
        root: str | Path,
        schema: ActionSchema,
        resolution: tuple[int, int],
        fps: float,
        real: bool = False,
        scale: int = 4,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.root, self.scale = Path(root), scale
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.video = Mp4Stream(self.root / f"play-{stamp}.mp4", fps)
        self.generated = EpisodeWriter(self.root / "dataset", schema, resolution, fps, "play:generated", info=info)
        self.real = (
            EpisodeWriter(self.root / "dataset-real", schema, resolution, fps, "play:real", info=info) if real else None
        )
        self.started = time.perf_counter()

    def begin(self, frame: np.ndarray, real_frame: np.ndarray | None = None) -> None:
        """A new episode starts at these frames."""
        self.generated.begin(frame)
        if self.real is not None and real_frame is not None:
            self.real.begin(real_frame)

    def add(
        self,
        action: int,
        frame: np.ndarray,
        reward: float,
        terminated: bool,
        view: np.ndarray,
        lines: list[str],
        real: tuple[np.ndarray, float, bool] | None = None,
    ) -> None:
        """Record one step: dataset transitions and one video frame of ``view`` with ``lines`` drawn."""
        self.generated.add(action, frame, reward, terminated)
        if self.real is not None and real is not None:
            real_frame, real_reward, real_done = real
            if self.real.open is None:
                self.real.begin(real_frame)
            else:
                self.real.add(action, real_frame, real_reward, real_done)
        self.video.write(label_frame(view, lines, self.scale))

    def real_restarted(self, frame: np.ndarray) -> None:
        """The real simulator began a new episode at ``frame``."""
        if self.real is not None:
            self.real.begin(frame)

    @property
    def steps(self) -> int:
        """Steps recorded so far."""
        return self.generated.steps

    def close(self) -> dict[str, Path | None]:
        """Write everything; returns the written files."""
        out = {"video": self.video.close(), "dataset": self.generated.close()}
        if self.real is not None:
            out["dataset_real"] = self.real.close()
        for k, v in out.items():
            if v is not None:
                log.info("recorded %s: %s", k, v)
        return out
