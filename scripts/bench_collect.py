"""Collection throughput per world with 1 and N workers; prints a table and writes JSON.

python scripts/bench_collect.py --frames 1000 --workers 2 --out runs/bench_collect.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from worldsim.data.collect import CollectConfig, collect

WORLDS = ["toy", "carracing", "highway", "doom", "breakout"]


def bench(world: str, frames: int, workers: int, shard_frames: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"bench-{world}-"))
    try:
        cfg = CollectConfig(
            world=world, out=str(out / "ds"), frames=frames, workers=workers, frames_per_shard=shard_frames, seed=0
        )
        start = time.perf_counter()
        collect(cfg, progress=False)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "world": world,
        "workers": workers,
        "frames": frames,
        "seconds": round(seconds, 2),
        "frames_per_s": round(frames / seconds, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=1000, help="transitions per measurement")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="N for the parallel measurement")
    p.add_argument("--worlds", default=",".join(WORLDS), help="comma-separated worlds")
    p.add_argument("--out", default="runs/bench_collect.json", help="JSON output")
    args = p.parse_args()
    rows = []
    print(f"{'world':<10} {'workers':>7} {'frames/s':>10} {'speed-up':>9}")
    for world in args.worlds.split(","):
        # Enough shards that every worker has work; the whole-process time includes worker start-up.
        shard = max(50, args.frames // (2 * args.workers))
        one = bench(world, args.frames, 1, shard)
        many = bench(world, args.frames, args.workers, shard)
        many["speedup"] = round(many["frames_per_s"] / one["frames_per_s"], 2)
        rows += [one, many]
        print(f"{world:<10} {1:>7} {one['frames_per_s']:>10.1f}")
        print(f"{world:<10} {args.workers:>7} {many['frames_per_s']:>10.1f} {many['speedup']:>8.2f}x")
    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
