"""What ``worldsim branches`` leaves on disk: ``branches.json``, a PSNR plot per branch kind and a contact sheet."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from worldsim.io import atomic_write_bytes, atomic_write_json
from worldsim.video import contact_sheet, write_png

#: Frames of each branch shown in the contact sheet (0 = the start frame).
SHEET_FRAMES = (0, 1, 3, 6, 10, 15, 20, 30, 40)


def write_branches(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``branches.json``, ``branches.png`` (plot) and ``sheet.png``; return their paths."""
    out_dir = Path(out_dir)
    frames = report.pop("_frames", None)
    paths = {"json": out_dir / "branches.json", "plot": out_dir / "branches.png"}
    atomic_write_json(paths["json"], report)
    atomic_write_bytes(paths["plot"], _plot(report))
    if frames is not None:
        paths["sheet"] = write_png(out_dir / "sheet.png", sheet(frames, report["horizon"]))
    return paths


def sheet(frames: dict[str, Any], horizon: int, start: int = 0) -> np.ndarray:
    """Per branch of start ``start``: a row of real frames, then the model's, at :data:`SHEET_FRAMES`."""
    picks = [t for t in SHEET_FRAMES if t <= horizon]
    rows, labels = [], []
    for k, (i, name) in enumerate(frames["streams"]):
        if i != start:
            continue
        for kind, seq in (("real", frames["real"][k]), ("model", frames["model"][k])):
            rows.append(np.stack([frames["first"][k] if t == 0 else seq[t - 1] for t in picks]))
            labels.append(f"{name} {kind}")
    image = contact_sheet(rows, scale=2)
    row_h = (image.shape[0] + 2 * 2) // len(rows)
    margin = np.full((image.shape[0], 150, 3), 255, np.uint8)
    for r, text in enumerate(labels):
        y = r * row_h + row_h // 2 + 5
        cv2.putText(margin, text, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([margin, image], axis=1)


def _plot(report: dict[str, Any]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(report["branches"])
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig = Figure(figsize=(4 * cols, 3 * rows), dpi=100)
    FigureCanvasAgg(fig)
    x = np.arange(1, report["horizon"] + 1)
    for k, name in enumerate(names):
        b = report["branches"][name]
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.plot(x, b["psnr_per_horizon"]["model"], label="model")
        ax.plot(x, b["psnr_per_horizon"]["copy_last"], label="copy-last")
        title = name
        if "probes" in b:
            p = b["probes"]
            if "moving_agrees" in p:
                title += f"  moving {p['moving_agrees']:.0%}, road {p['on_road_agrees']:.0%}"
            else:
                title += f"  crash {p['crash_agrees']:.0%}, lane {p['lane_agrees']:.0%}"
        ax.set_title(title, size=9)
        ax.set_xlabel("frames after the start")
        ax.set_ylabel("PSNR vs real (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{report['world']}: {report['starts']} fresh starts, seeds {report['start_seeds'][0]}+", size=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def format_branches(report: dict[str, Any]) -> str:
    """A plain table per branch kind."""
    kinds = {
        ("moving" if "moving_agrees" in b["probes"] else "traffic")
        for b in report["branches"].values()
        if "probes" in b
    }
    head = f"{'branch':<12} {'psnr':>6} {'copy':>6} {'ssim':>6}"
    if "moving" in kinds:
        head += f" {'moving':>7} {'frozen':>7} {'road':>6} {'v real':>7} {'v model':>7}"
    elif "traffic" in kinds:
        head += f" {'crash':>6} {'real':>5} {'model':>6} {'lane':>6}"
    lines = [head]
    for name, b in report["branches"].items():
        line = f"{name:<12} {b['psnr']['model']:>6.2f} {b['psnr']['copy_last']:>6.2f} {b['ssim']['model']:>6.3f}"
        if "probes" in b and "crash_agrees" in b["probes"]:
            p = b["probes"]
            line += (
                f" {p['crash_agrees']:>6.0%} {p['crashes']['real']:>5d} {p['crashes']['model']:>6d}"
                f" {p['lane_agrees']:>6.0%}"
            )
        elif "probes" in b:
            p = b["probes"]
            line += (
                f" {p['moving_agrees']:>7.0%} {p['frozen_while_real_moves']:>7.0%} {p['on_road_agrees']:>6.0%}"
                f" {p['real_speed_end']:>7.1f} {p['model_speed_end']:>7.1f}"
            )
            if "stop_frame" in p:
                line += f"  stop within 3 frames: {p['stop_frame']['within_3']:.0%}"
        lines.append(line)
    if "agreement" in report:
        lines.append("all branches: " + json.dumps(report["agreement"]))
    return "\n".join(lines)
