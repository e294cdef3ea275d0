"""The frame size every probe reads: its pixel boxes and calibrations are defined on 64x64 frames."""

from __future__ import annotations

import numpy as np

#: Probes read frames at this size (other sizes are resized to it first).
PROBE_SIZE = 64


def at_probe_size(frames: np.ndarray) -> np.ndarray:
    """``frames (..., H, W, 3)`` as ``(..., 64, 64, 3)``: unchanged when already that size, else area-resized."""
    frames = np.asarray(frames)
    if frames.shape[-3:-1] == (PROBE_SIZE, PROBE_SIZE):
        return frames
    import cv2

    flat = frames.reshape(-1, *frames.shape[-3:])
    out = np.stack([cv2.resize(f, (PROBE_SIZE, PROBE_SIZE), interpolation=cv2.INTER_AREA) for f in flat])
    return out.reshape(*frames.shape[:-3], PROBE_SIZE, PROBE_SIZE, 3)
