"""Dataset shards: safetensors files of whole episodes, memory-mapped for reading.

A shard holds episodes back to back. Episode ``e`` with ``T_e`` steps owns ``T_e + 1`` frames (the reset
frame, then one frame per step) and ``T_e`` entries of every per-step array; ``actions[t]`` is the action
taken on ``frames[t]``, which led to ``frames[t + 1]``, ``rewards[t]`` and the flags ``terminated[t]`` /
``truncated[t]``. The header's metadata records the world, the action-schema fingerprint and a CRC32 per
tensor, so truncation and bit rot are both detected. See ``docs/dataset.md``.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldsim.errors import DatasetError
from worldsim.io import atomic_write_bytes

SHARD_FORMAT = "worldsim-shard/1"
SHARD_GLOB = "shard-*.safetensors"

_DTYPES = {
    "U8": np.uint8,
    "F16": np.float16,
    "I16": np.int16,
    "I32": np.int32,
    "I64": np.int64,
    "F32": np.float32,
    "F64": np.float64,
}
_REQUIRED = ("frames", "actions", "rewards", "terminated", "truncated", "episode_steps", "episode_seeds")


def shard_name(index: int) -> str:
    """File name of shard ``index``."""
    return f"shard-{index:06d}.safetensors"


@dataclass
class Episode:
    """One recorded episode (arrays may be read-only memory maps)."""

    frames: np.ndarray  # (T+1, H, W, 3) uint8
    actions: np.ndarray  # (T,) int
    rewards: np.ndarray  # (T,) float32
    terminated: np.ndarray  # (T,) bool
    truncated: np.ndarray  # (T,) bool
    seed: int = -1
    policy: str = ""
    labels: np.ndarray | None = None  # (T+1, K, 5) float32 per frame, when the world labels its frames

    def __post_init__(self) -> None:
        t = len(self.actions)
        if len(self.frames) != t + 1:
            raise ValueError(f"an episode with {t} actions needs {t + 1} frames, got {len(self.frames)}")
        if self.labels is not None and len(self.labels) != t + 1:
            raise ValueError(f"an episode with {t + 1} frames needs {t + 1} label rows, got {len(self.labels)}")
        for name in ("rewards", "terminated", "truncated"):
            if len(getattr(self, name)) != t:
                raise ValueError(f"episode {name} has {len(getattr(self, name))} entries, expected {t}")

    @property
    def num_steps(self) -> int:
        """Number of transitions (actions) in the episode."""
        return len(self.actions)


def write_shard(path: str | Path, episodes: list[Episode], metadata: dict[str, Any]) -> None:
    """Write ``episodes`` to ``path`` atomically, with ``metadata`` and per-tensor checksums in the header."""
    if not episodes:
        raise ValueError("a shard needs at least one episode")
    tensors = {
        "frames": np.concatenate([e.frames for e in episodes]).astype(np.uint8),
        "actions": np.concatenate([e.actions for e in episodes]).astype(np.int16),
        "rewards": np.concatenate([e.rewards for e in episodes]).astype(np.float32),
        "terminated": np.concatenate([e.terminated for e in episodes]).astype(np.uint8),
        "truncated": np.concatenate([e.truncated for e in episodes]).astype(np.uint8),
        "episode_steps": np.array([e.num_steps for e in episodes], dtype=np.int64),
        "episode_seeds": np.array([e.seed for e in episodes], dtype=np.int64),
    }
    if all(e.labels is not None for e in episodes):  # what the simulator says each frame shows (docs/dataset.md)
        tensors["labels"] = np.concatenate([e.labels for e in episodes]).astype(np.float32)
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    meta = {
        "format": SHARD_FORMAT,
        "episode_policies": json.dumps([e.policy for e in episodes]),
        "crc32": json.dumps({k: zlib.crc32(v.data) for k, v in tensors.items()}),
        **{k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()},
    }
    atomic_write_bytes(path, serialize_safetensors(tensors, meta))


def serialize_safetensors(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """Encode tensors in the safetensors format with a key-sorted header.

    The reference writer orders metadata by hash, so equal data could give different bytes; sorting makes a
    shard's bytes a pure function of its content (collections are byte-for-byte reproducible).
    """
    codes = {np.dtype(v): k for k, v in _DTYPES.items()}
    header: dict[str, Any] = {"__metadata__": dict(sorted(metadata.items()))}
    offset = 0
    for name, arr in tensors.items():
        header[name] = {
            "dtype": codes[arr.dtype],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format aligns the data section to 8 bytes
    return b"".join([struct.pack("<Q", len(text)), text, *(arr.tobytes() for arr in tensors.values())])


class ShardReader:
    """Memory-mapped view of one shard; raises :class:`DatasetError` naming the file if it is unreadable."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.arrays, self.metadata = memmap_safetensors(self.path)
        if self.metadata.get("format") != SHARD_FORMAT:
            raise DatasetError(
                f"{self.path}: not a WorldSim shard (format {self.metadata.get('format')!r}, "
                f"expected {SHARD_FORMAT!r}); remove it from the dataset directory"
            )
        missing = [k for k in _REQUIRED if k not in self.arrays]
        if missing:
            raise DatasetError(f"{self.path}: shard lacks tensors {missing}; delete it and re-run the collection")
        steps = self.arrays["episode_steps"]
        self.step_starts = np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)
        self.frame_starts = self.step_starts + np.arange(len(steps) + 1)
        frames = len(self.arrays["frames"])
        if "labels" in self.arrays and len(self.arrays["labels"]) != frames:
            rows = len(self.arrays["labels"])
            raise DatasetError(f"{self.path}: {rows} label rows for {frames} frames; the file is corrupt")
        if self.step_starts[-1] != len(self.arrays["actions"]) or self.frame_starts[-1] != frames:
            raise DatasetError(
                f"{self.path}: episode lengths do not add up to the stored frames/actions; the file is corrupt"
            )
        self.policies: list[str] = json.loads(self.metadata.get("episode_policies", "[]"))

    def meta(self, key: str, default: Any = None) -> Any:
        """A JSON-decoded metadata value (the header stores strings)."""
        if key not in self.metadata:
            return default
        try:
            return json.loads(self.metadata[key])
        except json.JSONDecodeError:
            return self.metadata[key]

    @property
    def num_episodes(self) -> int:
        """Episodes in the shard."""
        return len(self.arrays["episode_steps"])

    @property
    def num_steps(self) -> int:
        """Transitions in the shard."""
        return len(self.arrays["actions"])

    def episode(self, i: int) -> Episode:
        """Episode ``i`` as memory-mapped views (no copy)."""
        s0, s1 = self.step_starts[i], self.step_starts[i + 1]
        f0, f1 = self.frame_starts[i], self.frame_starts[i + 1]
        a = self.arrays
        policy = self.policies[i] if i < len(self.policies) else ""
        return Episode(
            frames=a["frames"][f0:f1],
            actions=a["actions"][s0:s1],
            rewards=a["rewards"][s0:s1],
            terminated=a["terminated"][s0:s1].astype(bool),
            truncated=a["truncated"][s0:s1].astype(bool),
            seed=int(a["episode_seeds"][i]),
            policy=policy,
            labels=a["labels"][f0:f1] if "labels" in a else None,
        )

    def verify_checksums(self) -> list[str]:
        """Names of tensors whose CRC32 differs from the one stored at write time."""
        stored = self.meta("crc32", {})
        return [k for k, v in self.arrays.items() if stored.get(k) != zlib.crc32(np.ascontiguousarray(v).data)]


def memmap_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Memory-map every tensor of a safetensors file; return ``(arrays, metadata)``.

    Raises :class:`DatasetError` naming the file when it is missing, truncated or has a corrupt header.
    """
    path = Path(path)
    header, data_start = _read_header(path)
    metadata: dict[str, str] = header.pop("__metadata__", {}) or {}
    size = path.stat().st_size
    end = max((h["data_offsets"][1] for h in header.values()), default=0)
    if data_start + end > size:
        raise DatasetError(
            f"{path}: truncated ({size} bytes, header needs {data_start + end}); "
            "delete it and re-run `worldsim collect` with the same arguments to regenerate it"
        )
    arrays: dict[str, np.ndarray] = {}
    for name, h in header.items():
        if h["dtype"] not in _DTYPES:
            raise DatasetError(f"{path}: tensor {name!r} has unsupported dtype {h['dtype']}")
        start, stop = h["data_offsets"]
        dtype = np.dtype(_DTYPES[h["dtype"]])
        if stop - start != int(np.prod(h["shape"])) * dtype.itemsize:
            raise DatasetError(f"{path}: tensor {name!r} has inconsistent size; the file is corrupt")
        if stop == start:
            arrays[name] = np.zeros(h["shape"], dtype)
        else:
            arrays[name] = np.memmap(path, dtype, "r", data_start + start, tuple(h["shape"]))
    return arrays, metadata


def _read_header(path: Path) -> tuple[dict[str, Any], int]:
    if not path.is_file():
        raise DatasetError(f"{path}: shard not found")
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise DatasetError(f"{path}: truncated (no header); delete it and re-run the collection")
            (n,) = struct.unpack("<Q", raw)
            if n > 100_000_000:
                raise DatasetError(f"{path}: corrupt header length {n}; delete it and re-run the collection")
            text = f.read(n)
        if len(text) < n:
            raise DatasetError(f"{path}: truncated header; delete it and re-run the collection")
        return json.loads(text), 8 + n
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DatasetError(f"{path}: corrupt header (not JSON); delete it and re-run the collection") from None
