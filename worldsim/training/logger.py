"""Metrics to CSV (always) and TensorBoard (when installed), under fixed namespaces (train/, eval/, perf/)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

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
