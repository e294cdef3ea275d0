"""``worldsim collect``: record a dataset from a real simulator with data policies, in parallel.

The run is cut into shards of ``frames_per_shard`` steps. Shard ``k`` depends only on the settings and
``(seed, k)``, never on which worker made it or when, so a collection is deterministic for a seed, and a
re-run skips the shards already on disk (each is written atomically) and makes only the missing ones.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing as mp
import multiprocessing.util
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from worldsim.config import setting_differences, to_dict
from worldsim.data.dataset import META_FILE, read_meta, write_meta
from worldsim.data.shards import SHARD_GLOB, Episode, ShardReader, shard_name, write_shard
from worldsim.errors import ConfigError, DatasetError
from worldsim.io import remove_stale_temp_files
from worldsim.policies.base import make_policy, parse_mix
from worldsim.sources.base import World, make_config, make_world, world_class

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectConfig:
    """Settings of one collection run.

    Attributes:
        world: Registered world name (see ``worldsim worlds``).
        out: Output dataset directory.
        frames: Transitions to record in total (each episode also stores its reset frame).
        workers: Parallel worker processes.
        seed: Base seed; the same seed and settings give the same dataset.
        policy: Policy mix, e.g. ``"scripted=0.7,random=0.3"``, a single name, or ``"auto"``.
        frames_per_shard: Transitions per shard file (episodes are cut at shard ends, marked truncated).
        val_fraction: Fraction of episodes held out for validation.
        world_options: Fields of the world's config (``height``, ``width``, ``scenario``, ...).
    """

    world: str = "carracing"
    out: str = "data/carracing"
    frames: int = 10_000
    workers: int = 1
    seed: int = 0
    policy: str = "auto"
    frames_per_shard: int = 2_000
    val_fraction: float = 0.05
    world_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"frames must be >= 1, got {self.frames}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.frames_per_shard < 1:
            raise ValueError(f"frames_per_shard must be >= 1, got {self.frames_per_shard}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs to produce shard ``index`` (picklable for spawned processes)."""

    index: int
    steps: int
    world: str
    world_config: dict[str, Any]
    mix: dict[str, float]
    seed: int
    out: str


@dataclass
class CollectResult:
    """Summary of a collection run."""

    out: Path
    shards_written: int
    shards_skipped: int
    steps_written: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        """Recorded transitions per second of wall time in this run."""
        return self.steps_written / self.seconds if self.seconds > 0 else 0.0


def plan(cfg: CollectConfig) -> list[int]:
    """Steps per shard: full shards, then the remainder."""
    n = math.ceil(cfg.frames / cfg.frames_per_shard)
    return [min(cfg.frames_per_shard, cfg.frames - k * cfg.frames_per_shard) for k in range(n)]


def collect(cfg: CollectConfig, progress: bool = True) -> CollectResult:
    """Run (or resume) a collection; return what was written. See the module docstring."""
    out = Path(cfg.out)
    world_cfg = to_dict(make_config(cfg.world, cfg.world_options))
    mix = parse_mix(cfg.policy, cfg.world)
    settings = {
        "world_config": world_cfg,
        "policy": mix,
        "seed": cfg.seed,
        "frames_per_shard": cfg.frames_per_shard,
    }
    budgets = plan(cfg)
    _prepare(out, cfg, settings, len(budgets), sum(budgets))
    done = _finished_shards(out, budgets)
    jobs = [
        ShardJob(k, n, cfg.world, world_cfg, mix, cfg.seed, str(out)) for k, n in enumerate(budgets) if k not in done
    ]
    if done:
        log.info("resuming %s: %d of %d shards already recorded", out, len(done), len(budgets))
    start = time.perf_counter()
    total = sum(n for n in budgets)
    with tqdm(
        total=total,
        initial=total - sum(j.steps for j in jobs),
        unit="frame",
        desc=f"collect {cfg.world}",
        disable=not progress,
        smoothing=0.1,
    ) as bar:
        if cfg.workers == 1 or len(jobs) <= 1:
            for job in jobs:
                collect_shard(job, bar.update)
        else:
            _run_pool(jobs, cfg.workers, bar.update)
    seconds = time.perf_counter() - start
    _close_worlds()
    _finish(out, budgets)
    return CollectResult(out, len(jobs), len(done), sum(j.steps for j in jobs), seconds)


def collect_shard(job: ShardJob, report: Callable[[int], Any] = lambda n: None) -> None:
    """Record shard ``job.index`` and write it atomically; ``report(n)`` is called as steps are made."""
    world = _cached_world(job.world, job.world_config)
    policies = {name: make_policy(name, job.world) for name in job.mix}
    names, probs = list(job.mix), np.array(list(job.mix.values()))
    rng = np.random.default_rng([job.seed, job.index])
    episodes: list[Episode] = []
    remaining = job.steps
    while remaining > 0:
        env_seed = int(rng.integers(2**31 - 1))
        name = names[int(rng.choice(len(names), p=probs))]
        ep = _run_episode(world, policies[name], env_seed, remaining, np.random.default_rng(env_seed), report)
        ep.policy = name
        episodes.append(ep)
        remaining -= ep.num_steps
    meta = {
        "world": job.world,
        "schema_fingerprint": world.schema.fingerprint,
        "world_config": job.world_config,
        "shard_index": job.index,
        "shard_steps": job.steps,
        "seed": job.seed,
    }
    write_shard(Path(job.out) / shard_name(job.index), episodes, meta)


def _run_episode(
    world: World,
    policy: Any,
    seed: int,
    max_steps: int,
    rng: np.random.Generator,
    report: Callable[[int], Any],
) -> Episode:
    frame = world.reset(seed=seed)
    policy.reset(world, rng)
    frames, actions, rewards, terms, truncs = [frame], [], [], [], []
    labels = [world.frame_labels()]
    while True:
        a = policy.act(frame)
        step = world.step(a)
        frame = step.frame
        frames.append(frame)
        labels.append(world.frame_labels())
        actions.append(a)
        rewards.append(step.reward)
        terms.append(step.terminated)
        truncs.append(step.truncated)
        if len(actions) % 50 == 0:
            report(50)
        if step.terminated or step.truncated:
            break
        if len(actions) >= max_steps:  # the shard is full: cut the episode here
            truncs[-1] = True
            break
    report(len(actions) % 50)
    return Episode(
        frames=np.stack(frames),
        actions=np.array(actions, dtype=np.int16),
        rewards=np.array(rewards, dtype=np.float32),
        terminated=np.array(terms, dtype=bool),
        truncated=np.array(truncs, dtype=bool),
        seed=seed,
        labels=None if labels[0] is None else np.stack(labels),
    )


_WORLDS: dict[str, World] = {}


def _cached_world(name: str, config: dict[str, Any]) -> World:
    key = json.dumps([name, config], sort_keys=True)
    if key not in _WORLDS:
        for w in _WORLDS.values():
            w.close()
        _WORLDS.clear()
        _WORLDS[key] = make_world(name, config)
    return _WORLDS[key]


def _close_worlds() -> None:
    # Some simulators run engine subprocesses (VizDoom): close them rather than orphan them.
    for w in _WORLDS.values():
        w.close()
    _WORLDS.clear()


def _prepare(out: Path, cfg: CollectConfig, settings: dict[str, Any], num_shards: int, steps: int) -> None:
    if (out / META_FILE).exists():
        meta = read_meta(out)
        old = meta.get("collect", {}).get("settings")
        if meta.get("world") != cfg.world or old != settings:
            old = old or {}
            diff = setting_differences(old, settings, sorted(set(old) | set(settings))) or "different world"
            raise ConfigError(
                f"{out} already holds a dataset recorded with other settings ({diff}); "
                "re-run with the same settings to resume, or choose a new --out"
            )
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not a WorldSim dataset; choose an empty or new --out directory")
    out.mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temp_files(out)
    if removed:
        log.info("removed %d partial file(s) left by an interrupted run", removed)
    wc = world_class(cfg.world)
    world_cfg = settings["world_config"]
    write_meta(
        out,
        {
            "world": cfg.world,
            "height": world_cfg["height"],
            "width": world_cfg["width"],
            "fps": wc.fps if cfg.world != "carracing" else 50.0 / world_cfg["action_repeat"],
            "action_schema": wc.schema.to_dict(),
            "source": "collect",
            "val_fraction": cfg.val_fraction,
            "collect": {"settings": settings, "frames": steps, "num_shards": num_shards, "complete": False},
        },
    )


def _finished_shards(out: Path, budgets: list[int]) -> set[int]:
    done = set()
    for path in sorted(out.glob(SHARD_GLOB)):
        k = int(path.stem.split("-")[1])
        shard = ShardReader(path)
        if k >= len(budgets) or shard.meta("shard_steps") != budgets[k]:
            raise DatasetError(
                f"{path}: was recorded for a different --frames total; "
                "resume with the original --frames, or collect into a new --out"
            )
        done.add(k)
    return done


def _finish(out: Path, budgets: list[int]) -> None:
    meta = read_meta(out)
    present = len(list(out.glob(SHARD_GLOB)))
    meta["collect"]["complete"] = present == len(budgets)
    write_meta(out, {k: v for k, v in meta.items() if k != "format"})


_PROGRESS: Any = None


def _init_worker(progress_queue: Any) -> None:
    global _PROGRESS
    _PROGRESS = progress_queue
    # Pool workers skip atexit; a Finalize with an exit priority still runs when the worker exits.
    mp.util.Finalize(None, _close_worlds, exitpriority=10)


def _pool_shard(job: ShardJob) -> int:
    collect_shard(job, _PROGRESS.put)
    return job.index


def _run_pool(jobs: list[ShardJob], workers: int, update: Callable[[int], Any]) -> None:
    # spawn, not fork: simulators hold SDL/OpenGL state that does not survive a fork.
    ctx = mp.get_context("spawn")
    progress_queue = ctx.Queue()
    pool = ctx.Pool(min(workers, len(jobs)), initializer=_init_worker, initargs=(progress_queue,))
    try:
        pending = pool.map_async(_pool_shard, jobs, chunksize=1)
        while not pending.ready():
            with contextlib.suppress(queue.Empty):
                update(progress_queue.get(timeout=0.2))
        while True:
            try:
                update(progress_queue.get_nowait())
            except queue.Empty:
                break
        pending.get()  # re-raise a worker's error here
        pool.close()  # workers exit normally and close their simulators
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
