"""``worldsim data import``: turn your own recordings (a video plus a CSV of per-frame actions) into a dataset.

CSV format (header row required, one row per video frame, row ``i`` = the action taken on frame ``i``):

=============  ========  =====================================================================
column         required  meaning
=============  ========  =====================================================================
``action``     yes       action name (or id, when the schema is given)
``frame``      no        frame index; if present it must count 0, 1, 2, ... without gaps
``reward``     no        reward received after the action (default 0)
``terminated`` no        1 if the episode ended after this action (default 0)
``episode``    no        episode id; a change starts a new episode (default: one episode per file)
=============  ========  =====================================================================

The CSV may have as many rows as the video has frames (the last row's action is then unused) or one
fewer. Long recordings are written in shards of ``frames_per_shard`` steps (episodes are cut there and
marked truncated).
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from worldsim.actions import ActionSchema
from worldsim.data.dataset import META_FILE, read_meta, write_meta
from worldsim.data.shards import SHARD_GLOB, Episode, ShardReader, shard_name, write_shard
from worldsim.errors import DatasetError, InvalidAction

log = logging.getLogger(__name__)


@dataclass
class ActionTable:
    """The parsed CSV of one recording."""

    actions: list[str]
    rewards: np.ndarray
    terminated: np.ndarray
    episodes: list[str]


def read_action_csv(path: str | Path) -> ActionTable:
    """Parse and check an action CSV (see the module docstring); errors name the file and row."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: action CSV not found (expected one beside the video, or pass --csv)")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "action" not in reader.fieldnames:
                raise DatasetError(f"{path}: needs a header row with an 'action' column (got {reader.fieldnames})")
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: not a UTF-8 CSV text file ({e})") from None
    if not rows:
        raise DatasetError(f"{path}: no rows")
    actions, rewards, terms, episodes = [], [], [], []
    for i, row in enumerate(rows):
        line = i + 2  # header is line 1
        frame = (row.get("frame") or "").strip()
        if frame and (not frame.isdigit() or int(frame) != i):
            raise DatasetError(f"{path}:{line}: frame {frame!r} out of order (expected {i}); one row per frame")
        action = (row.get("action") or "").strip()
        if not action:
            raise DatasetError(f"{path}:{line}: empty action")
        actions.append(action)
        try:
            reward, term = float(row.get("reward") or 0.0), float(row.get("terminated") or 0)
        except ValueError as e:
            raise DatasetError(f"{path}:{line}: {e}") from None
        if not np.isfinite(reward):
            raise DatasetError(f"{path}:{line}: reward {row.get('reward')!r} is not a finite number")
        if term not in (0.0, 1.0):
            raise DatasetError(f"{path}:{line}: terminated must be 0 or 1, got {row.get('terminated')!r}")
        rewards.append(reward)
        terms.append(term == 1.0)
        episodes.append((row.get("episode") or "0").strip())
    return ActionTable(actions, np.array(rewards, np.float32), np.array(terms, bool), episodes)


def infer_schema(name: str, tables: list[ActionTable]) -> ActionSchema:
    """Schema from the action names used in the CSVs (``noop`` first if present, then alphabetical)."""
    names = sorted({a for t in tables for a in t.actions})
    if all(n.lstrip("-").isdigit() for n in names):
        raise DatasetError("the CSV uses numeric action ids; pass --world or --actions to give them names")
    if "noop" in names:
        names.remove("noop")
        names.insert(0, "noop")
    return ActionSchema.from_names(name, names)


def read_video(path: str | Path, height: int, width: int) -> Iterator[np.ndarray]:
    """Yield the frames of a video as RGB uint8 arrays resized to ``(height, width)``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: video not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DatasetError(f"{path}: cannot be decoded by OpenCV; convert it to mp4 (H.264) or avi")
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    finally:
        cap.release()


def import_recordings(
    videos: list[str | Path],
    out: str | Path,
    schema: ActionSchema | None = None,
    world_name: str = "custom",
    csvs: list[str | Path] | None = None,
    height: int = 64,
    width: int = 64,
    fps: float = 30.0,
    frames_per_shard: int = 2_000,
    progress: bool = True,
) -> int:
    """Import ``videos`` (each with its CSV) into the dataset at ``out``; return the number of steps added.

    Importing into an existing dataset appends shards if the schema and resolution match; a recording
    already imported (same content hash) is skipped, so re-running an import never duplicates data.
    """
    out = Path(out)
    csvs = [Path(c) for c in csvs] if csvs else [Path(v).with_suffix(".csv") for v in videos]
    if len(csvs) != len(videos):
        raise DatasetError(f"got {len(videos)} videos but {len(csvs)} CSV files; give one CSV per video")
    tables = [read_action_csv(c) for c in csvs]
    schema = schema or infer_schema(world_name, tables)
    for c, t in zip(csvs, tables, strict=True):
        for i, a in enumerate(t.actions):
            try:
                schema.index(a)
            except InvalidAction as e:
                raise DatasetError(f"{c}:{i + 2}: {e}") from None
    created = not (out / META_FILE).exists()
    imported = _prepare(out, schema, height, width, fps)
    try:
        return _import(out, videos, csvs, tables, schema, imported, height, width, frames_per_shard, progress)
    except BaseException:
        # A failed first import must not leave a dataset that is only a meta.json (it would look valid and empty).
        if created and not any(out.glob(SHARD_GLOB)):
            (out / META_FILE).unlink(missing_ok=True)
            if not any(out.iterdir()):
                out.rmdir()
        raise


def _import(
    out: Path,
    videos: list[str | Path],
    csvs: list[Path],
    tables: list[ActionTable],
    schema: ActionSchema,
    imported: set[str],
    height: int,
    width: int,
    frames_per_shard: int,
    progress: bool,
) -> int:
    next_index = max((int(p.stem.split("-")[1]) + 1 for p in out.glob(SHARD_GLOB)), default=0)
    added = 0
    for video, c, table in zip(videos, csvs, tables, strict=True):
        digest = _digest(Path(video), c)
        if digest in imported:
            log.info("%s: already imported, skipped", video)
            continue
        frames = list(
            tqdm(
                read_video(video, height, width), desc=f"import {Path(video).name}", unit="frame", disable=not progress
            )
        )
        episodes = _episodes(Path(video), c, frames, table, schema)
        for chunk in _chunks(episodes, frames_per_shard):
            meta = {
                "world": schema.world,
                "schema_fingerprint": schema.fingerprint,
                "source_file": str(video),
                "source_digest": digest,
                "shard_index": next_index,
            }
            write_shard(out / shard_name(next_index), chunk, meta)
            next_index += 1
            added += sum(e.num_steps for e in chunk)
    return added


def _prepare(out: Path, schema: ActionSchema, height: int, width: int, fps: float) -> set[str]:
    if (out / META_FILE).exists():
        meta = read_meta(out)
        old = ActionSchema.from_dict(meta["action_schema"])
        if old.fingerprint != schema.fingerprint or (meta["height"], meta["width"]) != (height, width):
            raise DatasetError(
                f"{out}: holds data with actions {old.names} at {meta['height']}x{meta['width']}; "
                f"this import has {schema.names} at {height}x{width}. Import into a new --out directory"
            )
        return {ShardReader(p).meta("source_digest") for p in out.glob(SHARD_GLOB)}
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out} exists and is not a WorldSim dataset; choose a new --out directory")
    write_meta(
        out,
        {
            "world": schema.world,
            "height": height,
            "width": width,
            "fps": fps,
            "action_schema": schema.to_dict(),
            "source": "import",
            "val_fraction": 0.05,
        },
    )
    return set()


def _episodes(
    video: Path, csv_path: Path, frames: list[np.ndarray], t: ActionTable, schema: ActionSchema
) -> list[Episode]:
    n = len(frames)
    if len(t.actions) not in (n, n - 1):
        raise DatasetError(
            f"{csv_path}: has {len(t.actions)} rows but {video} has {n} frames; "
            f"the CSV needs one row per frame ({n} or {n - 1} rows)"
        )
    ids = np.array([schema.index(a) for a in t.actions[: n - 1]], dtype=np.int16)
    frame_episode = t.episodes + t.episodes[-1:] * (n - len(t.episodes))  # episode id of every frame
    episodes, start = [], 0
    for i in range(1, n + 1):
        if i < n and frame_episode[i] == frame_episode[start]:
            continue
        stop = i - 1  # frames start..stop belong together; frame i (if any) is the next episode's first
        if stop > start:
            episodes.append(
                Episode(
                    frames=np.stack(frames[start : stop + 1]),
                    actions=ids[start:stop],
                    rewards=t.rewards[start:stop],
                    terminated=t.terminated[start:stop],
                    truncated=np.zeros(stop - start, bool),
                )
            )
        start = i
    return episodes


def _chunks(episodes: list[Episode], max_steps: int) -> Iterator[list[Episode]]:
    chunk: list[Episode] = []
    size = 0
    for ep in episodes:
        s = 0
        while s < ep.num_steps:
            take = min(max_steps - size, ep.num_steps - s)
            part = Episode(
                frames=ep.frames[s : s + take + 1],
                actions=ep.actions[s : s + take],
                rewards=ep.rewards[s : s + take],
                terminated=ep.terminated[s : s + take],
                truncated=ep.truncated[s : s + take].copy(),
            )
            if s + take < ep.num_steps:
                part.truncated[-1] = True  # cut at the shard end
            chunk.append(part)
            size += take
            s += take
            if size >= max_steps:
                yield chunk
                chunk, size = [], 0
    if chunk:
        yield chunk


def _digest(video: Path, csv_path: Path) -> str:
    h = hashlib.sha256()
    for p in (video, csv_path):
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]
