"""The real simulator's side of a scenario: the context frames, and what really happens in every branch.

For a seed start the world is reset with the seed and the warm-up is played; its last frames (and the
actions that led to them) are the model's context. Every branch replays the same reset and warm-up, then
plays its own program, so all branches start from the same frames (the simulators are deterministic for a
seed; :attr:`RealRun.context_frames` lets the caller check). Policy segments act here, on the real state;
the actions they choose are recorded and later fed to the model.

For a dataset start the context is read from the recording. The real continuation needs the simulator in
the recorded state: the episode is replayed from its recorded seed and actions, and used only if the replay
reproduces the recorded frame; otherwise the branch has no real frames (``note`` says why).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from worldsim.data.dataset import Dataset
from worldsim.errors import ConfigError, DatasetError, Error
from worldsim.rollout.programs import ProgramDriver
from worldsim.rollout.scenario import DatasetStart, Scenario
from worldsim.sources.base import World, make_world
from worldsim.sources.replay import replay_to

log = logging.getLogger(__name__)


@dataclass
class RealRun:
    """One branch in the real simulator.

    Attributes:
        context_frames: uint8 ``(C, H, W, 3)``: the frames before the scenario starts (the last is "now").
        context_actions: ``(C,)`` the action that led to each context frame (``len(schema)`` = unknown).
        actions: ``(T,)`` action ids of the branch, one per horizon frame (policy choices included).
        frames: uint8 ``(T_real, H, W, 3)``: frame ``t`` is what followed action ``t``; shorter than the
            horizon when the episode ended. ``None`` when there is no real continuation.
        rewards: ``(T_real,)`` real rewards, or ``None``.
        ended_at: 1-based frame at which the real episode terminated (``None``: it ran the whole horizon).
        end_info: The simulator's info at the end (e.g. ``crashed`` on highway), plain values only.
        note: Why ``frames`` is ``None``.
    """

    context_frames: np.ndarray
    context_actions: np.ndarray
    actions: np.ndarray
    frames: np.ndarray | None = None
    rewards: np.ndarray | None = None
    ended_at: int | None = None
    end_info: dict[str, Any] | None = None
    note: str | None = None


def resolve_path(spec: str, scenario: Scenario) -> Path:
    """A path from a scenario: as given (relative to the working directory), else beside the scenario file."""
    path = Path(spec).expanduser()
    if path.exists() or path.is_absolute():
        return path
    beside = Path(scenario.path).parent / path
    return beside if beside.exists() else path


def open_world(scenario: Scenario, resolution: tuple[int, int], config: dict[str, Any] | None = None) -> World:
    """The scenario's real world at ``resolution`` (the model's), with the scenario's options."""
    options = dict(scenario.options if config is None else config)
    h, w = resolution
    if (options.get("height", h), options.get("width", w)) != (h, w):
        raise ConfigError(
            f"{scenario.where('options')}: options ask for {options.get('height')}x{options.get('width')} frames but "
            f"the model makes {h}x{w}; remove height/width from options"
        )
    options.update(height=h, width=w)
    return make_world(scenario.world, options)


def run_real(scenario: Scenario, context_len: int, resolution: tuple[int, int]) -> list[RealRun]:
    """Run every branch of ``scenario`` in the real simulator (see the module docstring).

    Args:
        scenario: The scenario.
        context_len: Context frames to keep (the model's).
        resolution: ``(height, width)`` of the frames.
    """
    if isinstance(scenario.start, DatasetStart):
        return _run_from_dataset(scenario, context_len, resolution)
    world = open_world(scenario, resolution)
    try:
        return [_run_branch(scenario, world, b, context_len) for b in range(len(scenario.branches))]
    finally:
        world.close()


def _run_branch(scenario: Scenario, world: World, branch: int, context_len: int) -> RealRun:
    start = scenario.start
    unknown = len(world.schema)
    frame = world.reset(seed=start.seed)
    frames, actions = [frame], [unknown]
    if start.warmup is not None:
        driver = ProgramDriver(start.warmup, start.warmup.length, world.schema, world, [scenario.seed, 0])
        for t in range(start.warmup.length):
            step = world.step(driver.act(frame))
            frame = step.frame
            frames.append(frame)
            actions.append(driver.actions[-1])
            if step.terminated:
                raise Error(
                    f"{scenario.where('start')}: the warm-up ended the real episode at frame {t + 1} of "
                    f"{start.warmup.length}; shorten the warm-up or change start seed"
                )
    run = RealRun(np.stack(frames[-context_len:]), np.array(actions[-context_len:], dtype=np.int64), np.zeros(0))
    return _continue(scenario, world, branch, run)


def _continue(scenario: Scenario, world: World, branch: int, run: RealRun) -> RealRun:
    """Play branch ``branch``'s program from the current state of ``world`` for the horizon."""
    program = scenario.branches[branch].program
    driver = ProgramDriver(program, scenario.horizon, world.schema, world, [scenario.seed, 1 + branch])
    frame: np.ndarray | None = run.context_frames[-1]
    frames, rewards = [], []
    for t in range(scenario.horizon):
        a = driver.act(frame)
        if frame is None:
            continue
        step = world.step(a)
        frames.append(step.frame)
        rewards.append(step.reward)
        frame = step.frame
        if step.terminated:
            # The simulator has nothing after the end; the model keeps generating for the whole horizon.
            run.ended_at, frame = t + 1, None
            run.end_info = {k: v for k, v in step.info.items() if isinstance(v, bool | int | float | str)}
    run.actions = np.array(driver.actions, dtype=np.int64)
    run.frames, run.rewards = np.stack(frames), np.array(rewards, dtype=np.float32)
    return run


def _run_from_dataset(scenario: Scenario, context_len: int, resolution: tuple[int, int]) -> list[RealRun]:
    start = scenario.start
    where = scenario.where("start")
    ds = Dataset(resolve_path(start.dataset, scenario))
    if ds.world != scenario.world:
        raise ConfigError(f"{where}: dataset {ds.root} records world {ds.world!r}, the scenario is {scenario.world!r}")
    if ds.resolution != tuple(resolution):
        raise ConfigError(f"{where}: dataset {ds.root} has {ds.resolution} frames, the model makes {resolution}")
    if start.episode >= len(ds):
        raise DatasetError(
            f"{where}: episode {start.episode} does not exist; {ds.root} has {len(ds)} (0..{len(ds) - 1})"
        )
    ep = ds.episode(start.episode)
    if start.frame > ep.num_steps:
        raise DatasetError(
            f"{where}: frame {start.frame} does not exist; episode {start.episode} has frames 0..{ep.num_steps}"
        )
    lo = max(0, start.frame - context_len + 1)
    unknown = len(ds.schema)
    ctx_frames = np.array(ep.frames[lo : start.frame + 1])
    ctx_actions = np.array([ep.actions[i - 1] if i > 0 else unknown for i in range(lo, start.frame + 1)], np.int64)
    config = ds.meta.get("collect", {}).get("settings", {}).get("world_config")
    runs = []
    for b in range(len(scenario.branches)):
        run = RealRun(ctx_frames, ctx_actions, np.zeros(0))
        if config is None or ep.seed < 0:
            run.note = f"{ds.root} does not record the simulator seed and config (imported data): no real frames"
        else:
            world = open_world(scenario, resolution, config)
            try:
                run.note = _replay(world, ep, start.frame)
                if run.note is None:
                    run = _continue(scenario, world, b, run)
            finally:
                world.close()
        if run.frames is None:
            program = scenario.branches[b].program
            if program.uses_policy:
                raise Error(
                    f"{where}: branch {scenario.branches[b].name!r} uses a policy, which needs the real simulator, "
                    f"but {run.note}; use action segments"
                )
            run.actions = program.fixed_actions(scenario.horizon, ds.schema)
        runs.append(run)
    return runs


def _replay(world: World, ep: Any, frame: int) -> str | None:
    """Bring ``world`` to ``frame`` of a recorded episode; return why not, or ``None`` when it matches."""
    return replay_to(world, int(ep.seed), ep.actions[:frame], np.asarray(ep.frames[frame]))[1]
