"""Package a trained world into ``assets/<name>/``: the world file, real start states and size checks.

    python scripts/package_world.py runs/carracing-student/world.safetensors --data data/carracing --name carracing

Writes ``assets/<name>/world.safetensors`` (a copy; with ``--sampling FILE`` (a YAML/TOML of
:class:`~worldsim.sampling.config.SamplingConfig` fields, e.g. ``configs/ship/carracing.yaml``) or
``-S KEY=VALUE``, re-saved with that sampling recipe), ``assets/<name>/starts.safetensors`` (start windows cut
from validation episodes) and, with ``--teacher``, ``teacher.safetensors``. Refuses files over the asset budget
(40 MB per file, 150 MB for all of ``assets/``). The model card (``README.md``) is written by
``scripts/model_card.py`` from the evaluation reports.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

from tqdm import tqdm

from worldsim.assets import assets_dir
from worldsim.checkpoint import CHECKSUMS_FILE
from worldsim.config import apply_overrides, read_config_file
from worldsim.data.dataset import Dataset
from worldsim.errors import Error
from worldsim.io import atomic_write_json
from worldsim.sampling.config import resolve_sampling
from worldsim.sources import world_class
from worldsim.sources.replay import open_start_world, reach_start
from worldsim.starts import StartStates
from worldsim.world_model import WorldModel

FILE_LIMIT_MB, TOTAL_LIMIT_MB = 40, 150


def check_origins(starts: StartStates, name: str) -> None:
    """Replay every start's origin in the real simulator; a start whose replay misses its frame loses its origin.

    What ships is then true: play's real pane (``V``) starts from the same moment for every start with an origin.
    """
    if starts.origins is None:
        print("start states: no recorded simulator seeds (side by side shows the real simulator's own reset)")
        return
    world = open_start_world(name, starts, starts.resolution)
    failed = []
    try:
        for i in tqdm(range(len(starts)), desc="replay start states", unit="start"):
            why = reach_start(world, starts, i)[1] if starts.origin(i) is not None else "no seed"
            if why is not None:
                starts.origins.seeds[i] = -1
                failed.append(f"start {i}: {why}")
    finally:
        world.close()
    print(f"start states: {len(starts) - len(failed)} of {len(starts)} replay to their frame in the real simulator")
    for line in failed[:10]:
        print("  " + line)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("world", nargs="?", default="", help="world.safetensors to ship (the few-step student)")
    p.add_argument("--data", default="", help="dataset the start states are cut from (its validation episodes)")
    p.add_argument(
        "--starts-data", action="store_true",
        help="--data was recorded for start states alone, with seeds no training run used: cut from every episode",
    )  # fmt: skip
    p.add_argument(
        "--starts-only", action="store_true",
        help="only re-cut the start states of the world already in assets/NAME (its world file stays as it is)",
    )  # fmt: skip
    p.add_argument(
        "--world-only", action="store_true",
        help="only replace the world file of assets/NAME (e.g. with new heads from `worldsim heads`); its start "
        "states and shipped sampling recipe stay",
    )  # fmt: skip
    p.add_argument("--name", required=True, help="shipped name (assets/NAME)")
    p.add_argument("--teacher", default="", help="also ship this teacher world file")
    p.add_argument("--sampling", default="", help="YAML/TOML of the sampling recipe to ship (guidance, hold, ...)")
    p.add_argument(
        "-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="a field of the sampling recipe to ship, over --sampling (e.g. guidance.scale=2, hold.threshold=13)",
    )  # fmt: skip
    p.add_argument("--starts", type=int, default=200, help="number of start states")
    p.add_argument("--start-frames", type=int, default=5, help="real frames per start state")
    p.add_argument("--min-offset", type=int, default=0, help="skip this many frames at episode starts")
    p.add_argument(
        "--from-rest", type=float, default=0.0,
        help="share of start states cut at an episode's start (the car at rest), e.g. 0.1",
    )  # fmt: skip
    p.add_argument("--out", default=str(assets_dir()), help="assets directory")
    args = p.parse_args(argv)

    out = Path(args.out) / args.name
    if args.world_only:
        return _replace_world(args.world, out, Path(args.out))
    if not args.data:
        p.error("--data is required to cut start states")
    if args.starts_only:
        args.world = str(out / "world.safetensors")
    elif not args.world:
        p.error("name the world file to ship (or pass --starts-only)")
    out.mkdir(parents=True, exist_ok=True)
    world = WorldModel.load(args.world)  # validates the file before it is shipped
    ds = Dataset(args.data)
    if ds.schema.fingerprint != world.schema.fingerprint:
        print(f"error: {args.data} was recorded with another action schema than {args.world}", file=sys.stderr)
        return 2
    recipe = bool(args.sampling or args.overrides) and not args.starts_only
    if recipe:  # checked before the start states are cut and replayed, which takes minutes
        try:
            overrides = apply_overrides(read_config_file(args.sampling) if args.sampling else {}, args.overrides)
            world.sampling = resolve_sampling(world.sampling, overrides, where=args.sampling or "sampling overrides")
        except Error as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    keep = min(args.start_frames, world.dynamics.cfg.context_len)
    starts = StartStates.from_dataset(
        ds, args.starts, keep, seed=0, split=None if args.starts_data else "val", min_offset=args.min_offset,
        accept=world_class(ds.world).good_start, from_rest=args.from_rest,
    )  # fmt: skip
    check_origins(starts, ds.world)
    starts.save(out / "starts.safetensors")
    copies = [(args.teacher, "teacher.safetensors")] if args.teacher else []
    if recipe:  # the shipped recipe lives in the world file's metadata: re-save it (atomically) with it
        world.save(out / "world.safetensors")
    elif not args.starts_only:
        copies.append((args.world, "world.safetensors"))
    for src, name in copies:
        tmp = out / (name + ".tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(out / name)
    return _seal(out, Path(args.out), args.name)


def _replace_world(path: str, out: Path, assets: Path) -> int:
    """Ship ``path`` as ``out/world.safetensors`` with the shipped world's sampling recipe; starts stay."""
    shipped = WorldModel.load(out / "world.safetensors")
    world = WorldModel.load(path)
    if world.schema.fingerprint != shipped.schema.fingerprint:
        print(f"error: {path} has other actions than {out / 'world.safetensors'}", file=sys.stderr)
        return 2
    world.sampling = shipped.sampling
    world.save(out / "world.safetensors")
    return _seal(out, assets, out.name)


def _seal(out: Path, assets: Path, name: str) -> int:
    """Write ``checksums.json`` of ``out`` and check the asset budget."""
    # What ships is what loads: the SHA-256 of every file, checked on load (worldsim.checkpoint).
    sums = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(out.glob("*.safetensors"))}
    atomic_write_json(out / CHECKSUMS_FILE, sums)
    sizes = {p: p.stat().st_size / 2**20 for p in assets.rglob("*") if p.is_file()}
    for path, mb in sorted(sizes.items()):
        print(f"{mb:7.1f} MB  {path}")
    big = [p for p, mb in sizes.items() if mb > FILE_LIMIT_MB]
    total = sum(sizes.values())
    if big or total > TOTAL_LIMIT_MB:
        msg = f"over the asset budget (files > {FILE_LIMIT_MB} MB: {big}; total {total:.1f} MB)"
        print(f"error: {msg}", file=sys.stderr)
        return 1
    print(f"packaged {name}: {out}  (assets total {total:.1f} MB of {TOTAL_LIMIT_MB})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
