"""``OUT/index.html`` and ``OUT/summary.json``: every scenario of an output directory on one page.

Built from the ``report.json`` files found under ``OUT`` (this run's and earlier ones), so the page always
shows everything the directory holds: a table (status, model FPS, PSNR per branch, the error of a failed
scenario), then per scenario its contact sheet, its plot and links to the video and the report.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from worldsim.io import atomic_write_bytes, atomic_write_json
from worldsim.rollout.report import REPORT_JSON

INDEX = "index.html"
SUMMARY = "summary.json"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; font-size: 14px; vertical-align: top; }
th { background: #f2f2f2; }
.ok { color: #0a7a2f; } .failed { color: #b00020; }
section { border-top: 1px solid #ddd; padding-top: 1em; margin-top: 1.5em; }
img { max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; margin: 4px 0; }
code { background: #f6f6f6; padding: 1px 4px; }
"""


def read_reports(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every readable ``OUT/*/report.json``, sorted by scenario directory name."""
    reports = []
    for path in sorted(Path(out_dir).glob(f"*/{REPORT_JSON}")):
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a report being replaced or damaged: the next run rewrites it
        report["dir"] = path.parent.name
        reports.append(report)
    return reports


def summary_rows(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per scenario: name, world, model, status, error, speed and PSNR per branch."""
    rows = []
    for r in reports:
        sc = r.get("scenario", {})
        perf = r.get("performance") or {}
        rows.append(
            {
                "name": r["dir"],
                "file": sc.get("file"),
                "world": sc.get("world"),
                "model": sc.get("model"),
                "status": r.get("status"),
                "error": r.get("error"),
                "branches": len(r.get("branches", [])),
                "samples": r.get("samples", sc.get("samples")),
                "horizon": sc.get("horizon"),
                "model_fps": perf.get("model_fps"),
                "psnr_mean": (r.get("summary") or {}).get("psnr_mean"),
                "psnr_by_branch": {b["name"]: b.get("model", {}).get("psnr_mean") for b in r.get("branches", [])},
                "copy_last_by_branch": {
                    b["name"]: b.get("model", {}).get("copy_last_psnr_mean") for b in r.get("branches", [])
                },
            }
        )
    return rows


def write_index(out_dir: str | Path) -> Path:
    """Write ``summary.json`` and ``index.html`` for everything in ``out_dir``; returns the HTML path."""
    out_dir = Path(out_dir)
    reports = read_reports(out_dir)
    rows = summary_rows(reports)
    atomic_write_json(out_dir / SUMMARY, {"scenarios": rows})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>WorldSim rollouts</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>WorldSim scenario rollouts</h1>",
        f"<p>{sum(r['status'] == 'ok' for r in rows)} of {len(rows)} scenarios ok. "
        "PSNR/SSIM compare the model's frames with the real simulator's under the same actions.</p>",
        _table(rows),
        *(_section(r) for r in reports),
        "</body></html>",
    ]
    path = out_dir / INDEX
    atomic_write_bytes(path, "\n".join(parts).encode())
    return path


def _table(rows: list[dict[str, Any]]) -> str:
    head = "<tr><th>scenario</th><th>world</th><th>model</th><th>status</th><th>branches x samples x frames</th>"
    head += "<th>model FPS</th><th>PSNR by branch, dB (copy-last: the real frame before the branch, held)</th></tr>"
    body = []
    for r in rows:
        copy = r.get("copy_last_by_branch") or {}
        psnrs = ", ".join(
            f"{escape(k)} {_num(v)}" + (f" ({_num(copy[k])})" if copy.get(k) is not None else "")
            for k, v in r["psnr_by_branch"].items()
        )
        status = escape(str(r["status"]))
        if r["error"]:
            status += f"<br><small>{escape(r['error'])}</small>"
        body.append(
            f"<tr><td><a href='#{escape(r['name'])}'>{escape(r['name'])}</a></td><td>{escape(str(r['world']))}</td>"
            f"<td>{escape(str(r['model']))}</td><td class='{escape(str(r['status']))}'>{status}</td>"
            f"<td>{r['branches']} x {r['samples']} x {r['horizon']}</td><td>{_num(r['model_fps'], 1)}</td>"
            f"<td>{psnrs}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def _section(r: dict[str, Any]) -> str:
    name = r["dir"]
    sc = r.get("scenario", {})
    files = r.get("files", {})
    out = [f"<section id='{escape(name)}'><h2>{escape(name)}</h2>"]
    if sc.get("description"):
        out.append(f"<p>{escape(sc['description'])}</p>")
    if r.get("error"):
        out.append(f"<p class='failed'>failed: {escape(r['error'])}</p>")
    branches = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in sc.get("branches", {}).items())
    out.append(f"<p><code>{escape(str(sc.get('file')))}</code>, start {escape(json.dumps(sc.get('start')))}</p>")
    out.append(f"<ul>{branches}</ul>")
    links = [f"<a href='{escape(name)}/{escape(files[k])}'>{k}</a>" for k in ("video", "sheet", "plot") if k in files]
    links.append(f"<a href='{escape(name)}/{REPORT_JSON}'>report</a>")
    out.append(f"<p>{' | '.join(links)}</p>")
    for key in ("sheet", "plot"):
        if key in files:
            out.append(f"<img src='{escape(name)}/{escape(files[key])}' alt='{key} of {escape(name)}'>")
    out.append("</section>")
    return "\n".join(out)


def _num(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
