"""Headless play: no window; play an action file (or a replay, or a policy) and write the video and timings.

The run is the same :class:`~worldsim.play.session.PlaySession` as the window's, without pacing (frames
are generated as fast as the machine allows, so the timings measure the play loop's real speed). It
writes ``OUT.mp4`` (actions drawn on the frames) and ``OUT.json``::

    {"frames": 300, "fps_mean": 24.1, "fps_p50": 25.3, "fps_p99": 15.2, "acceptance_rate": 0.0,
     "model_ms": {"mean": ..., "p50": ..., "p99": ...}, "decode_ms": {...}, "frame_ms": {...},
     "per_frame": {"model_ms": [...], "decode_ms": [...], "frame_ms": [...], "accepted": [...], "action": [...]}}

``fps_p99`` is the frame rate of the 99th-percentile (slow) frame.
"""

from __future__ import annotations

import logging
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from worldsim.io import atomic_write_json
from worldsim.play.controllers import ReplayController
from worldsim.play.recorder import Mp4Stream, label_frame
from worldsim.play.session import PlaySession

log = logging.getLogger(__name__)


def run_headless(
    session: PlaySession,
    out: str | Path,
    frames: int = 300,
    record: str | Path | None = None,
    scale: int = 4,
    progress: bool = True,
) -> dict[str, Any]:
    """Warm up, play, and write ``out`` (mp4) and ``out`` with ``.json`` (timings); returns the timings.

    Args:
        session: A built session whose active controller is a replay or a policy.
        out: Video path.
        frames: Frames to play when the controller is not a replay (a replay plays to its end).
        record: Also record a dataset episode (and a second video) into this directory.
        scale: Upscaling of the video frames.
        progress: Show a progress bar.
    """
    out = Path(out)
    session.start()
    if record:
        session.start_recording(record)
    active = session.controllers.active
    total = active.remaining if isinstance(active, ReplayController) else frames
    video = Mp4Stream(out, session.video_fps)
    video.write(label_frame(session.view(), session.video_lines(), scale))
    rows: list[tuple[float, float, float, bool, int]] = []
    for _ in tqdm(range(total), desc=f"play {session.sim.name}", unit="frame", disable=not progress):
        t0 = time.perf_counter()
        if not session.update():
            break
        wall = 1000 * (time.perf_counter() - t0)
        rows.append((session.model_ms, session.decode_ms, wall, session.accepted, session.action))
        video.write(label_frame(session.view(), session.video_lines(), scale))
    video.close()
    report = summarize(session, rows)
    report["video"] = str(out)
    if record:
        report["recording"] = {k: str(v) for k, v in session.stop_recording().items() if v is not None}
    session.close()
    atomic_write_json(out.with_suffix(".json"), report)
    log.info(
        "played %d frames: %.1f FPS (p50 %.1f, p99 %.1f); wrote %s and %s",
        report["frames"],
        report["fps_mean"],
        report["fps_p50"],
        report["fps_p99"],
        out,
        out.with_suffix(".json"),
    )
    return report


def _stats(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"mean": 0.0, "p50": 0.0, "p99": 0.0}
    return {
        "mean": round(float(values.mean()), 3),
        "p50": round(float(np.percentile(values, 50)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
    }


def summarize(session: PlaySession, rows: list[tuple[float, float, float, bool, int]]) -> dict[str, Any]:
    """The timings report of a headless run."""
    arr = np.array([r[:3] for r in rows], dtype=np.float64).reshape(-1, 3)
    frame_ms = arr[:, 2]
    sim = session.sim
    return {
        "world": sim.name,
        "backend": sim.backend.name,
        "device": str(sim.world.device),
        "cpu_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "steps": sim.steps,
        "lookahead": sim.lookahead,
        "controller": session.controller_name,
        "frames": len(rows),
        "warmup_s": round(session.warmup_seconds, 2),
        "expected_fps": round(session.expected_fps, 2),
        "fps_mean": round(1000 * len(rows) / frame_ms.sum(), 2) if rows else 0.0,
        "fps_p50": round(1000 / np.percentile(frame_ms, 50), 2) if rows else 0.0,
        "fps_p99": round(1000 / np.percentile(frame_ms, 99), 2) if rows else 0.0,
        "acceptance_rate": round(float(np.mean([r[3] for r in rows])), 4) if rows else 0.0,
        "episode_return": round(session.episode_return, 4),
        "model_ms": _stats(arr[:, 0]),
        "decode_ms": _stats(arr[:, 1]),
        "frame_ms": _stats(frame_ms),
        "per_frame": {
            "model_ms": [round(r[0], 3) for r in rows],
            "decode_ms": [round(r[1], 3) for r in rows],
            "frame_ms": [round(r[2], 3) for r in rows],
            "accepted": [bool(r[3]) for r in rows],
            "action": [sim.schema.names[r[4]] for r in rows],
        },
    }


def time_play_loop(
    world: str, frames: int = 300, backend: str = "auto", device: str = "auto", sampling: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The play loop's timings, for ``worldsim bench``: headless play of ``world`` under the random policy.

    The same code as ``worldsim play --headless`` (session, video), for ``frames`` frames.
    """
    from worldsim.play.config import PlayConfig, build_session

    cfg = PlayConfig(
        world=world, headless=True, policy="random", frames=frames, backend=backend, device=device,
        sampling=dict(sampling or {}),
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="worldsim-bench-play-") as tmp:
        report = run_headless(build_session(cfg, keyboard=False), Path(tmp) / "play.mp4", frames, progress=False)
    return {
        "frames": report["frames"], "backend": report["backend"], "steps": report["steps"],
        "fps_mean": report["fps_mean"], "fps_p50": report["fps_p50"], "frame_ms_p99": report["frame_ms"]["p99"],
        "model_ms": report["model_ms"]["mean"], "decode_ms": report["decode_ms"]["mean"],
    }  # fmt: skip
