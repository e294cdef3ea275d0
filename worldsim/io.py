"""Atomic file writes: a reader (or a killed writer) never sees a half-written file; output checks up front."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

TMP_MARKER = ".tmp-"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}{TMP_MARKER}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def remove_stale_temp_files(directory: str | Path) -> int:
    """Delete temp files left by killed writers in ``directory``; return how many were removed."""
    removed = 0
    for p in Path(directory).glob(f"*{TMP_MARKER}*"):
        p.unlink(missing_ok=True)
        removed += 1
    return removed


def writable_dir(path: str | Path) -> Path:
    """Create directory ``path`` (and parents) and check a file can be written in it; return it.

    Commands call this on their output directories before any expensive work (loading a model, a warm-up, a
    rollout), so a path under a file, a read-only or a full disk fails in the first second with the OS error
    (turned into one line by the CLI), not after minutes of work.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f"{TMP_MARKER}probe-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"0")
            f.flush()
            os.fsync(f.fileno())
    finally:
        probe.unlink(missing_ok=True)
    return path
