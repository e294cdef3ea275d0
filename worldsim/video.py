"""Writing videos and contact sheets (mp4 via OpenCV, PNG), atomically."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from worldsim.io import TMP_MARKER


def upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of uint8 frames ``(..., H, W, 3)`` (keeps pixels crisp)."""
    if scale == 1:
        return frames
    return frames.repeat(scale, axis=-3).repeat(scale, axis=-2)


def write_mp4(path: str | Path, frames: np.ndarray | Iterable[np.ndarray], fps: float = 15.0, scale: int = 4) -> Path:
    """Write uint8 RGB frames ``(T, H, W, 3)`` to an mp4 (atomic: temp file, then rename).

    ``frames`` may also be any iterable of ``(H, W, 3)`` frames (e.g. a generator), written as they come, so
    long or large videos never have to be held in memory at once.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(frames, np.ndarray):
        frames = upscale(np.asarray(frames, dtype=np.uint8), scale)
        h, w = frames.shape[1:3]
    else:
        frames = (upscale(np.asarray(f, dtype=np.uint8), scale) for f in frames)
        first = next(frames, None)
        if first is None:
            raise ValueError(f"{path}: no frames to write")
        h, w = first.shape[:2]
        frames = itertools.chain([first], frames)
    tmp = path.with_name(f"{path.stem}{TMP_MARKER}{os.getpid()}{path.suffix}")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write mp4 here (no encoder)")
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    os.replace(tmp, path)
    return path


def contact_sheet(rows: Sequence[np.ndarray], every: int = 1, scale: int = 2, gap: int = 2) -> np.ndarray:
    """Grid image: one row per sequence ``(T, H, W, 3)``, every ``every``-th frame, white gaps."""
    rows = [np.asarray(r, dtype=np.uint8)[::every] for r in rows]
    t = max(len(r) for r in rows)
    h, w = rows[0].shape[1:3]
    sheet = np.full((len(rows) * (h + gap) - gap, t * (w + gap) - gap, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        for j, f in enumerate(r):
            sheet[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = f
    return upscale(sheet, scale)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    from worldsim.io import atomic_write_bytes

    atomic_write_bytes(path, buf.tobytes())
    return path
