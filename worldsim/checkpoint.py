"""Checkpoints: safetensors files whose metadata carries everything needed to load them.

Every file holds tensors plus JSON metadata: ``format``, ``kind`` (``codec``, ``dynamics``, ``idm``,
``train_state``), the model ``config`` and, where relevant, the world's ``action_schema``. Files are
written atomically and never unpickled; optimizer state is flattened into tensors plus JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from worldsim.errors import CheckpointError
from worldsim.io import atomic_write_bytes

CHECKPOINT_FORMAT = "worldsim-checkpoint/1"


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], kind: str, **metadata: Any) -> None:
    """Atomically write ``tensors`` with ``kind`` and JSON-encoded ``metadata`` values."""
    meta = {"format": CHECKPOINT_FORMAT, "kind": kind}
    meta.update({k: json.dumps(v) for k, v in metadata.items()})
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    atomic_write_bytes(path, st_save(flat, metadata=meta))


def load_checkpoint(path: str | Path, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint; return ``(tensors, metadata)`` with metadata values JSON-decoded.

    Raises :class:`CheckpointError` with the file and the fix when it is missing, corrupt, not a WorldSim
    checkpoint, or of another ``kind``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; check the path or train one (worldsim train --help)")
    data = path.read_bytes()
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        raw_meta = json.loads(data[8 : 8 + header_len]).get("__metadata__", {}) or {}
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(
            f"{path}: corrupt or not a safetensors file ({e}); re-download it or retrain (a truncated copy?)"
        ) from None
    if raw_meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a WorldSim checkpoint (format {raw_meta.get('format')!r})")
    if kind is not None and raw_meta.get("kind") != kind:
        raise CheckpointError(f"{path}: is a {raw_meta.get('kind')!r} checkpoint, expected a {kind!r} one")
    meta: dict[str, Any] = {}
    for k, v in raw_meta.items():
        try:
            meta[k] = json.loads(v) if k not in ("format", "kind") else v
        except json.JSONDecodeError:
            meta[k] = v
    return tensors, meta


def module_tensors(module: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """State dict of the unwrapped module (no ``_orig_mod.``/``module.`` prefixes), with an optional prefix."""
    module = unwrap(module)
    return {f"{prefix}{k}": v for k, v in module.state_dict().items()}


def load_module(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str = "", path: Any = "") -> None:
    """Load ``prefix``-ed tensors into ``module`` strictly; mismatches become :class:`CheckpointError`."""
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        unwrap(module).load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else "shape mismatch"
        raise CheckpointError(f"{path}: weights do not fit the model config ({first})") from None


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """Strip torch.compile and DDP wrappers."""
    while True:
        if hasattr(module, "_orig_mod"):
            module = module._orig_mod
        elif isinstance(module, torch.nn.parallel.DistributedDataParallel):
            module = module.module
        else:
            return module


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str = "optim.") -> tuple[dict[str, torch.Tensor], Any]:
    """Flatten an optimizer state into tensors plus a JSON-able description (no pickling)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], info: Any, prefix: str = "optim."
) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix):
            pid, _, key = name[len(prefix) :].partition(".")
            state.setdefault(int(pid), {})[key] = value
    for pid, values in info.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(values)
    opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})
