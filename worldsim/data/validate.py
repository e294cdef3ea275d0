"""``worldsim data validate``: check every shard of a dataset against its metadata."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from worldsim.actions import ActionSchema
from worldsim.data.dataset import read_meta
from worldsim.data.shards import SHARD_GLOB, ShardReader, shard_name
from worldsim.errors import DatasetError


def validate_dataset(root: str | Path, checksums: bool = True) -> Iterator[str]:
    """Yield one line per problem found in the dataset at ``root`` (nothing if it is valid).

    Checks ``meta.json``, then for each shard: readability and size (truncation), CRC32 of every tensor,
    world, resolution and action-schema fingerprint against the metadata, and action ids in range.
    """
    root = Path(root)
    try:
        meta = read_meta(root)
    except DatasetError as e:
        yield str(e)
        return
    schema = ActionSchema.from_dict(meta["action_schema"])
    h, w = int(meta["height"]), int(meta["width"])
    paths = sorted(root.glob(SHARD_GLOB))
    if not paths:
        yield f"{root}: no shards (shard-*.safetensors); the collection has not written any yet"
    collect = meta.get("collect") or {}
    if collect.get("complete") and isinstance(collect.get("num_shards"), int):
        missing = sorted({shard_name(i) for i in range(collect["num_shards"])} - {p.name for p in paths})
        if missing:
            yield (
                f"{root}: meta.json says the collection is complete, but {len(missing)} shard(s) are missing "
                f"({', '.join(missing[:3])}); re-run `worldsim collect` with the same arguments to regenerate them"
            )
    for path in paths:
        try:
            shard = ShardReader(path)
        except DatasetError as e:
            yield str(e)
            continue
        yield from _check_shard(shard, meta, schema, (h, w), checksums)


def _check_shard(
    shard: ShardReader, meta: dict, schema: ActionSchema, hw: tuple[int, int], checksums: bool
) -> Iterator[str]:
    p = shard.path
    fix = "delete it and re-run `worldsim collect` with the same arguments to regenerate it"
    if shard.meta("world") != meta["world"]:
        yield (
            f"{p}: world {shard.meta('world')!r} does not match meta.json ({meta['world']!r}); "
            "move it to its own dataset"
        )
    if shard.meta("schema_fingerprint") != schema.fingerprint:
        yield (
            f"{p}: action schema {shard.meta('schema_fingerprint')!r} does not match meta.json "
            f"({schema.fingerprint!r}); it was recorded with other actions, move it to its own dataset"
        )
    frames = shard.arrays["frames"]
    if frames.ndim != 4 or tuple(frames.shape[1:]) != (*hw, 3):
        yield f"{p}: frames have shape {tuple(frames.shape)}, expected (N, {hw[0]}, {hw[1]}, 3) from meta.json"
    if checksums:
        bad = shard.verify_checksums()
        if bad:
            yield f"{p}: checksum mismatch in {', '.join(bad)} (corrupt data); {fix}"
            return
    actions = np.asarray(shard.arrays["actions"])
    if actions.size and (actions.min() < 0 or actions.max() >= len(schema)):
        bad_id = int(actions.max() if actions.max() >= len(schema) else actions.min())
        yield f"{p}: unknown action id {bad_id} (schema {schema.world!r} has ids 0..{len(schema) - 1}); {fix}"
    for name in ("terminated", "truncated"):
        values = np.asarray(shard.arrays[name])
        if values.size and values.max() > 1:
            yield f"{p}: {name} flags must be 0 or 1; {fix}"
    if not np.all(np.isfinite(np.asarray(shard.arrays["rewards"]))):
        yield f"{p}: rewards contain NaN or inf; {fix}"
