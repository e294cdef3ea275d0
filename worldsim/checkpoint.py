"""Checkpoints: safetensors files whose metadata carries everything needed to load them.

Every file holds tensors plus JSON metadata: ``format``, ``kind`` (``codec``, ``dynamics``, ``idm``,
``train_state``), the model ``config`` and, where relevant, the world's ``action_schema``. Files are
written atomically and never unpickled; optimizer state is flattened into tensors plus JSON.

Integrity: every file written here records the CRC-32 of its tensor data (``data_crc32``), checked on load, so a
flipped bit anywhere in the weights is an error naming the file instead of a world that silently produces NaN.
Files shipped before that (``assets/``) are covered by a ``checksums.json`` beside them (SHA-256 of each file).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from worldsim.errors import CheckpointError
from worldsim.io import atomic_write_bytes

CHECKPOINT_FORMAT = "worldsim-checkpoint/1"


#: File that lists the SHA-256 of files in its folder (``{"world.safetensors": "ab12..."}``), checked on load.
CHECKSUMS_FILE = "checksums.json"


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], kind: str, **metadata: Any) -> None:
    """Atomically write ``tensors`` with ``kind``, JSON-encoded ``metadata`` values and the data's CRC-32."""
    meta = {"format": CHECKPOINT_FORMAT, "kind": kind}
    meta.update({k: json.dumps(v) for k, v in metadata.items()})
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    # Serialised once with a placeholder of the checksum's width, which is then overwritten in place: the header
    # keeps its length, so the data section (and its offsets) stay as they are.
    meta["data_crc32"] = _CRC_PLACEHOLDER
    data = bytearray(st_save(flat, metadata=meta))
    header_end = 8 + int.from_bytes(data[:8], "little")
    at = data.index(_CRC_PLACEHOLDER.encode(), 8, header_end)
    data[at : at + len(_CRC_PLACEHOLDER)] = f"{zlib.crc32(memoryview(data)[header_end:]):010d}".encode()
    atomic_write_bytes(path, bytes(data))


_CRC_PLACEHOLDER = "0" * 9 + "x"  # ten characters: a CRC-32 written as ten decimal digits


def _data_section(data: bytes) -> memoryview:
    header_len = int.from_bytes(data[:8], "little")
    return memoryview(data)[8 + header_len :]


def _verify(path: Path, data: bytes, raw_meta: dict[str, str]) -> None:
    """Raise :class:`CheckpointError` if the file's recorded checksums do not match its bytes."""
    recorded = raw_meta.get("data_crc32")
    if recorded is not None and (not recorded.isdigit() or int(recorded) != zlib.crc32(_data_section(data))):
        raise CheckpointError(
            f"{path}: its tensor data does not match its checksum (the file is damaged); re-download or retrain it"
        )
    sums = path.parent / CHECKSUMS_FILE
    if recorded is None and sums.is_file():
        try:
            expected = json.loads(sums.read_text()).get(path.name)
        except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
            raise CheckpointError(f"{sums}: not a JSON mapping of file names to SHA-256 sums") from None
        if expected is not None and hashlib.sha256(data).hexdigest() != expected:
            raise CheckpointError(
                f"{path}: does not match its SHA-256 in {sums} (the file is damaged); restore it (git checkout)"
            )


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
    _verify(path, data, raw_meta)
    if kind is not None and raw_meta.get("kind") != kind:
        raise CheckpointError(f"{path}: is a {raw_meta.get('kind')!r} checkpoint, expected a {kind!r} one")
    meta: dict[str, Any] = {}
    for k, v in raw_meta.items():
        if k == "data_crc32":  # a property of this file's bytes, not of the model: verified above, not carried on
            continue
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
