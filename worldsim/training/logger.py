"""Training metrics on disk.

:class:`MetricsLogger`: long CSV (step, name, value) plus TensorBoard, for the dynamics trainer's namespaced metrics
(train/, eval/, perf/). :class:`MetricsLog`: a wide CSV with fixed columns, for the codec and refiner trainers.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from worldsim.io import atomic_write_bytes

log = logging.getLogger(__name__)


class MetricsLogger:
    """Append-safe CSV plus TensorBoard scalars; a resumed run keeps appending to the same files."""

    def __init__(self, out_dir: str | Path, enabled: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(out_dir) / "metrics.csv"
        self.tb = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(Path(out_dir) / "tb"))
        except ImportError:
            log.info("tensorboard not installed: metrics go to %s only", self.path)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """Record ``metrics`` (name -> number) at ``step``: one CSV row per (step, name)."""
        if not self.enabled:
            return
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["step", "name", "value"])
            for k, v in metrics.items():
                w.writerow([step, k, f"{float(v):.6g}"])
        if self.tb is not None:
            for k, v in metrics.items():
                self.tb.add_scalar(k, float(v), step)
            self.tb.flush()

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self.tb is not None:
            self.tb.close()


class MetricsLog:
    """A metrics CSV appended row by row; rows past the resumed step are dropped first."""

    def __init__(self, path: Path, resume_step: int, columns: tuple[str, ...]) -> None:
        self.path = path
        self.columns = columns
        rows: list[dict[str, str]] = []
        if path.is_file():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if r.get("step", "").isdigit() and int(r["step"]) <= resume_step]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_bytes(path, buf.getvalue().encode())
        #: Latest value of every column in the kept rows (what a finished run reports when re-run).
        self.last: dict[str, Any] = {}
        for r in rows:
            self.last.update({k: float(v) for k, v in r.items() if k in columns and k != "step" and v})

    def append(self, row: dict[str, Any]) -> None:
        """Append one row (missing columns stay empty)."""
        values = {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore", lineterminator="\n").writerow(values)
