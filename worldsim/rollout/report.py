"""What a scenario run leaves on disk: a side-by-side video, a contact sheet, a plot and a JSON report.

``OUT/<scenario>/``

- ``rollout.mp4``: one row per branch, columns = the model's samples, then the real simulator; every tile
  is labelled with the branch, the frame index (context frames <= 0) and the action that led to the frame.
- ``branches.png``: contact sheet, per branch the real frames and the model's samples at a few frames.
- ``psnr.png``: PSNR and SSIM against the real simulator per frame, predicted vs real reward.
- ``report.json``: per-frame PSNR/SSIM, model speed, predicted rewards and terminations. Written last: its
  ``status`` is the completion marker a re-run checks.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from worldsim.io import atomic_write_bytes, atomic_write_json
from worldsim.metrics import band_means, psnr, ssim
from worldsim.rollout.runner import ModelRun, ScenarioRun
from worldsim.video import upscale, write_mp4, write_png

REPORT_FORMAT = "worldsim-rollout/1"
REPORT_JSON = "report.json"
VIDEO = "rollout.mp4"
SHEET = "branches.png"
PLOT = "psnr.png"

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BAND = 28  # label band above each video tile, pixels
_MAX_VIDEO_WIDTH = 1024
_SHEET_COLUMNS = 10
_LABEL_WIDTH = 150


def write_scenario(run: ScenarioRun, out_dir: str | Path, fps: float, extra: dict[str, Any] | None = None) -> dict:
    """Write every output of ``run`` into ``out_dir``, ``report.json`` last; returns the report.

    Args:
        run: The scenario run.
        out_dir: The scenario's output directory.
        fps: Frame rate of the video (the simulated world's).
        extra: More top-level report entries (e.g. the completion key).
    """
    out_dir = Path(out_dir)
    metrics = [branch_metrics(run, b) for b in range(len(run.scenario.branches))]
    files = {"video": VIDEO, "sheet": SHEET}
    write_mp4(out_dir / VIDEO, video_frames(run), fps=fps, scale=1)
    write_png(out_dir / SHEET, contact_sheet(run))
    if run.model is not None:
        atomic_write_bytes(out_dir / PLOT, plot_png(run, metrics))
        files["plot"] = PLOT
    report = build_report(run, metrics, files, extra)
    write_report(out_dir, report)
    return report


# -- the side-by-side video --------------------------------------------------------------------------


def video_frames(run: ScenarioRun) -> Iterator[np.ndarray]:
    """Frames of the side-by-side video, one per context frame then one per horizon frame (generator)."""
    names = run.scenario.schema.names
    ctx = run.context_frames
    c, horizon = len(ctx), run.scenario.horizon
    samples = run.model.frames.shape[1] if run.model is not None else 0
    has_real = any(r.frames is not None for r in run.real)
    cols = samples + int(has_real)
    h, w = ctx.shape[1:3]
    scale = max(1, min(4, _MAX_VIDEO_WIDTH // (cols * w)))
    for k in range(c + horizon):
        t = k - (c - 1)  # frame index: <= 0 context, >= 1 generated
        rows = []
        for b, branch in enumerate(run.scenario.branches):
            real = run.real[b]
            if t <= 0:
                label = f"f{t:+d} ctx {_name(names, real.context_actions[k])}"
                tiles = [_tile(ctx[k], scale, f"{branch.name} | model {s}", label) for s in range(samples)]
                if has_real:
                    tiles.append(_tile(ctx[k], scale, f"{branch.name} | real", label))
            else:
                label = f"f{t:+d} {names[real.actions[t - 1]]}"
                tiles = [
                    _tile(run.model.frames[b, s, t - 1], scale, f"{branch.name} | model {s}", label)
                    for s in range(samples)
                ]
                if has_real:
                    tiles.append(_real_tile(real, t, scale, branch.name, label, (h, w)))
            rows.append(np.concatenate(tiles, axis=1))
        yield _even(np.concatenate(rows, axis=0))


def _real_tile(real: Any, t: int, scale: int, branch: str, label: str, size: tuple[int, int]) -> np.ndarray:
    if real.frames is None:
        return _tile(np.zeros((*size, 3), np.uint8), scale, f"{branch} | real", "no real frames")
    if t <= len(real.frames):
        return _tile(real.frames[t - 1], scale, f"{branch} | real", label)
    last = (real.frames[-1] * 0.35).astype(np.uint8)  # after the episode ended: the last frame, dimmed
    return _tile(last, scale, f"{branch} | real", f"ended at f{real.ended_at}")


def _tile(frame: np.ndarray, scale: int, line1: str, line2: str) -> np.ndarray:
    img = upscale(np.asarray(frame, np.uint8), scale)
    band = np.zeros((_BAND, img.shape[1], 3), np.uint8)
    chars = max(4, img.shape[1] // 8)
    cv2.putText(band, line1[:chars], (4, 11), _FONT, 0.36, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(band, line2[:chars], (4, 24), _FONT, 0.36, (255, 210, 90), 1, cv2.LINE_AA)
    tile = np.concatenate([band, img], axis=0)
    tile[:, -1] = tile[-1, :] = 90  # thin grid lines between tiles
    return tile


def _even(image: np.ndarray) -> np.ndarray:
    """Pad to even height and width (most mp4 players want that)."""
    h, w = image.shape[:2]
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)))


def _name(names: list[str], action: int) -> str:
    return names[int(action)] if 0 <= int(action) < len(names) else "-"


# -- contact sheet -----------------------------------------------------------------------------------


def contact_sheet(run: ScenarioRun, scale: int = 2) -> np.ndarray:
    """Per branch: the real frames and up to two model samples, at the last context frame and every few frames."""
    horizon = run.scenario.horizon
    every = max(1, math.ceil(horizon / _SHEET_COLUMNS))
    picks = list(range(every, horizon + 1, every))  # 1-based frame indices shown after the context frame
    last = run.context_frames[-1]
    h, w = last.shape[:2]
    cell_w, cell_h = w * scale + 2, h * scale + 2
    rows: list[tuple[str, str, list[np.ndarray | None]]] = []
    for b, branch in enumerate(run.scenario.branches):
        real = run.real[b]
        if real.frames is not None:
            rows.append((branch.name, "real", [last] + [_at(real.frames, t) for t in picks]))
        if run.model is not None:
            for s in range(min(2, run.model.frames.shape[1])):
                rows.append((branch.name, f"model {s}", [last] + [run.model.frames[b, s, t - 1] for t in picks]))
    header = 18
    sheet = np.full((header + len(rows) * cell_h, _LABEL_WIDTH + (len(picks) + 1) * cell_w, 3), 255, np.uint8)
    for j, t in enumerate([0, *picks]):
        cv2.putText(sheet, f"f{t}", (_LABEL_WIDTH + j * cell_w + 4, 13), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    previous = None
    for i, (branch, kind, frames) in enumerate(rows):
        y = header + i * cell_h
        if branch != previous and i > 0:
            sheet[y - 2 : y, :] = 0  # a dark rule between branches
        name = branch if branch != previous else ""
        previous = branch
        cv2.putText(sheet, name[:18], (4, y + cell_h // 2 - 2), _FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(sheet, kind, (4, y + cell_h // 2 + 14), _FONT, 0.38, (90, 90, 90), 1, cv2.LINE_AA)
        for j, f in enumerate(frames):
            if f is not None:
                x = _LABEL_WIDTH + j * cell_w
                sheet[y : y + h * scale, x : x + w * scale] = upscale(np.asarray(f, np.uint8), scale)
    return sheet


def _at(frames: np.ndarray, t: int) -> np.ndarray | None:
    return frames[t - 1] if t <= len(frames) else None


# -- metrics and the plot ----------------------------------------------------------------------------


def branch_metrics(run: ScenarioRun, b: int) -> dict[str, Any]:
    """Per-frame PSNR/SSIM of every sample of branch ``b`` against the real frames (where they exist)."""
    real, model = run.real[b], run.model
    out: dict[str, Any] = {}
    if model is not None:
        out["reward"] = model.reward[b].tolist()
        out["term_prob"] = model.term_prob[b].tolist()
        out["return_mean"] = float(model.reward[b].sum(axis=1).mean())
        out["max_term_prob"] = float(model.term_prob[b].max())
    if model is None or real.frames is None:
        return out
    n = len(real.frames)
    gen = model.frames[b, :, :n]
    target = np.repeat(real.frames[None], len(gen), axis=0)  # a real copy: SSIM hands it to torch
    p, s = psnr(gen, target), ssim(gen, target)  # (samples, n)
    copy = psnr(np.broadcast_to(run.context_frames[-1], real.frames.shape), real.frames)
    out.update(
        psnr=p.tolist(),
        ssim=s.tolist(),
        psnr_mean=float(p.mean()),
        ssim_mean=float(s.mean()),
        psnr_bands=band_means(p),
        copy_last_psnr=copy.tolist(),
        copy_last_psnr_mean=float(copy.mean()),
    )
    return out


def plot_png(run: ScenarioRun, metrics: list[dict[str, Any]]) -> bytes:
    """PNG bytes: PSNR and SSIM vs frame per branch (mean and sample range; copy-last dotted), and rewards.

    ``metrics`` are the branches' :func:`branch_metrics`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_real = any("psnr" in m for m in metrics)
    panels = ["psnr", "ssim", "reward"] if has_real else ["reward"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for b, (branch, m) in enumerate(zip(run.scenario.branches, metrics, strict=True)):
        color = colors[b % len(colors)]
        for ax, key in zip(axes[0], panels, strict=True):
            if key == "reward":
                values = np.asarray(m["reward"])
                real = run.real[b].rewards
                if real is not None:
                    ax.plot(np.arange(1, len(real) + 1), real, color=color, ls="--", lw=1)
            elif key in m:
                values = np.asarray(m[key])
                if key == "psnr":
                    copy = m["copy_last_psnr"]
                    ax.plot(np.arange(1, len(copy) + 1), copy, color=color, ls=":", lw=1)
            else:
                continue
            x = np.arange(1, values.shape[1] + 1)
            ax.plot(x, values.mean(0), color=color, label=branch.name)
            ax.fill_between(x, values.min(0), values.max(0), color=color, alpha=0.2, lw=0)
    titles = {
        "psnr": "PSNR vs real (dB; dotted: copy-last)",
        "ssim": "SSIM vs real",
        "reward": "reward (solid: model, dashed: real)",
    }
    for ax, key in zip(axes[0], panels, strict=True):
        ax.set_title(titles[key], fontsize=9)
        ax.set_xlabel("frame")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(run.scenario.name, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


# -- the JSON report ---------------------------------------------------------------------------------


def build_report(
    run: ScenarioRun, metrics: list[dict[str, Any]], files: dict[str, str], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON report of a scenario run (``status`` ``ok``, or ``failed`` with ``error`` when there is no model).

    ``metrics`` are the branches' :func:`branch_metrics`; ``files`` the outputs written beside the report.
    """
    names = run.scenario.schema.names
    branches = []
    for b, branch in enumerate(run.scenario.branches):
        real = run.real[b]
        branches.append(
            {
                "name": branch.name,
                "program": branch.program.describe(),
                "actions": [names[a] for a in real.actions],
                "real": {
                    "available": real.frames is not None,
                    "frames": 0 if real.frames is None else len(real.frames),
                    "ended_at": real.ended_at,
                    "end_info": real.end_info,
                    "note": real.note,
                    "reward": None if real.rewards is None else real.rewards.tolist(),
                    "return": None if real.rewards is None else float(real.rewards.sum()),
                },
                "model": metrics[b],
            }
        )
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "status": "failed" if run.error else "ok",
        "error": run.error,
        "scenario": run.scenario.to_json(),
        "model": dict(run.model_info),
    }
    if run.model is not None:
        scored = [m for m in metrics if "psnr_mean" in m]
        report["summary"] = {
            "psnr_mean": _mean([m["psnr_mean"] for m in scored]),
            "ssim_mean": _mean([m["ssim_mean"] for m in scored]),
            "copy_last_psnr_mean": _mean([m["copy_last_psnr_mean"] for m in scored]),
            "psnr_by_branch": {b["name"]: b["model"].get("psnr_mean") for b in branches},
        }
        report["samples"] = int(run.model.frames.shape[1])
        report["performance"] = _performance(run.model)
    report["context"] = {
        "frames": len(run.context_frames),
        "actions": [_name(names, a) for a in run.real[0].context_actions],
        "identical_across_branches": run.context_identical,
    }
    report["branches"] = branches
    report["files"] = files
    report.update(extra or {})
    return json_safe(report)


def _performance(m: ModelRun) -> dict[str, Any]:
    frames = m.frames.shape[2]
    return {
        "streams": m.streams,
        "frames_generated": m.streams * frames,
        "model_fps": m.fps,
        "per_stream_fps": frames / max(m.wall_s, 1e-9),
        "ms_per_batched_step": 1000 * m.wall_s / frames,
        "model_s": m.model_s,
        "decode_s": m.decode_s,
        "wall_s": m.wall_s,
        "warmup_s": m.warmup_s,
        "steps": m.steps,
        "backend": m.backend,
        "device": m.device,
    }


def write_report(out_dir: str | Path, report: dict[str, Any]) -> Path:
    """Write ``report.json`` atomically (always the last file of a scenario)."""
    path = Path(out_dir) / REPORT_JSON
    atomic_write_json(path, json_safe(report))
    return path


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy values made Python, floats rounded to 4 decimals and NaN/inf made ``None``."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return round(obj, 4) if math.isfinite(obj) else None
    return obj
