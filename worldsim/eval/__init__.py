"""Evaluation of world models: frame metrics, an inverse-dynamics action checker and rollout reports.

The metrics import only numpy; :mod:`worldsim.eval.idm` and :mod:`worldsim.eval.report` (torch, matplotlib)
load on first use of their names.
"""

from __future__ import annotations

import importlib
from typing import Any

from worldsim.metrics import HORIZON_BANDS, PSNR_CAP_DB, band_means, psnr, ssim

_LAZY = {
    "IDMConfig": "worldsim.eval.idm",
    "InverseDynamics": "worldsim.eval.idm",
    "accuracy": "worldsim.eval.idm",
    "train_idm": "worldsim.eval.idm",
    "evaluate_rollouts": "worldsim.eval.report",
    "format_table": "worldsim.eval.report",
    "write_report": "worldsim.eval.report",
}

__all__ = ["HORIZON_BANDS", "PSNR_CAP_DB", "band_means", "psnr", "ssim", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
