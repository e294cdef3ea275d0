"""Counterfactual branches: from the same state, hold one action in the model and in the real simulator.

What a driving engineer asks a world model ("what if the car brakes here?") is a counterfactual: the consequence of
an action from a given state, not the continuation the data usually shows. This evaluation makes fresh start
states in the real simulator (reset with an unseen seed, then the world's scripted policy drives a random 40-150
frames, so the car is at speed, on the road, in bends), and from each runs every branch: each action of the world
held for ``horizon`` frames, plus the scripted policy continuing (its real actions are replayed in the model). The
real simulator is put back into the start state for every branch by replaying the seed and the actions
(:mod:`worldsim.sources.replay`).

Per branch kind it reports PSNR/SSIM vs the real frames against copy-last, and, for worlds with probes
(:mod:`worldsim.probes`), the state read from the frames of both: CarRacing, moving or stopped at the end of the
branch, on or off the road at the end, and for the brake branch the frame the car stops at; highway, whether the
ego car crashes (and whether the model's termination head says so) and its lane at the end.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from tqdm import tqdm

from worldsim.errors import Error
from worldsim.metrics import psnr, ssim
from worldsim.policies.base import available_policies, make_policy
from worldsim.probes import PROBES, STOPPED_SPEED
from worldsim.sampling.config import SamplingConfig
from worldsim.sampling.simulator import Simulator
from worldsim.sources.base import World, make_world
from worldsim.sources.replay import replay_to

log = logging.getLogger(__name__)

SCRIPTED = "scripted"


@dataclass
class BranchConfig:
    """Settings of a counterfactual evaluation.

    Attributes:
        world: Shipped world name or world file.
        starts: Fresh start states (each from its own unseen simulator seed).
        seed: First simulator seed (start ``i`` uses ``seed + i``); pick seeds no training run used.
        horizon: Frames each branch is held.
        warmup: ``(lo, hi)`` frames the scripted policy drives before a start state is taken.
        device: ``auto``, ``cpu``, ``cuda``.
        backend: Generation backend.
        sampling: Sampling overrides (as ``worldsim eval``).
        world_options: Options of the real simulator (``make_world`` keyword arguments).
    """

    world: str = "carracing"
    starts: int = 10
    seed: int = 20000
    horizon: int = 40
    warmup: tuple[int, int] = (40, 150)
    device: str = "auto"
    backend: str = "auto"
    sampling: dict[str, Any] | SamplingConfig | None = None
    world_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Start:
    """A fresh start state: the real simulator's seed and the actions that reached it, with its last frames."""

    seed: int
    actions: list[int]
    frames: np.ndarray  # (F, H, W, 3) the last real frames
    frame_actions: np.ndarray  # (F,) the action that led to each (len(schema) = unknown)


def make_starts(world: World, cfg: BranchConfig, context: int) -> list[Start]:
    """Drive the scripted policy (random where the world has none) from ``cfg.starts`` fresh seeds."""
    name = SCRIPTED if SCRIPTED in available_policies(world.name) else "random"
    unknown = len(world.schema)
    out = []
    for i in range(cfg.starts):
        seed = cfg.seed + i
        rng = np.random.default_rng(seed)
        frames = [world.reset(seed=seed)]
        policy = make_policy(name, world.name)
        policy.reset(world, rng)
        actions: list[int] = []
        for _ in range(int(rng.integers(cfg.warmup[0], cfg.warmup[1] + 1))):
            action = int(policy.act(frames[-1]))
            step = world.step(action)
            if step.terminated or step.truncated:
                break
            actions.append(action)
            frames.append(step.frame)
        keep = min(context, len(frames))
        led = [unknown, *actions][-keep:]
        out.append(Start(seed, actions, np.stack(frames[-keep:]), np.array(led, dtype=np.int64)))
    return out


def branch_names(world: World) -> list[str]:
    """Every action held, and the scripted policy where the world has one."""
    names = list(world.schema.names)
    return names + ([SCRIPTED] if SCRIPTED in available_policies(world.name) else [])


class RealBranch(NamedTuple):
    """One branch in the real simulator."""

    frames: np.ndarray  # (horizon, H, W, 3)
    actions: np.ndarray  # (horizon,)
    ended: int  # the frame (1-based) the episode ended at (a crash, the track done); 0 when it did not


def run_real(world: World, start: Start, branch: str, horizon: int) -> RealBranch:
    """Real frames and actions of one branch from ``start``; an episode that ends shows and holds its last frame."""
    frame = reach(world, start)
    policy = None
    if branch == SCRIPTED:
        policy = make_policy(SCRIPTED, world.name)
        policy.reset(world, np.random.default_rng([start.seed, 1]))
    held = None if policy is not None else world.schema.index(branch)
    frames, actions, ended = [], [], 0
    for t in range(horizon):
        action = int(policy.act(frame)) if policy is not None else held
        if not ended:  # the branch keeps its length: an ended episode holds its last frame (a crash stays drawn)
            step = world.step(action)
            frame = step.frame
            ended = t + 1 if step.terminated or step.truncated else 0
        frames.append(frame)
        actions.append(action)
    return RealBranch(np.stack(frames), np.array(actions, dtype=np.int64), ended)


def reach(world: World, start: Start) -> np.ndarray:
    """Put the real simulator back into ``start`` (seed and actions replayed); its frame there."""
    frame, why = replay_to(world, start.seed, start.actions, start.frames[-1])
    if why is not None:
        raise Error(f"{world.name} start seed {start.seed}: {why}; the simulator is not deterministic here")
    return frame


def open_real(sim: Simulator, cfg: BranchConfig) -> World:
    """The real simulator, set up as the world's start states were recorded (same action repeat, no step limit)."""
    config: dict[str, Any] = {}
    if sim.starts is not None and sim.starts.origins is not None:
        config.update(sim.starts.origins.world_config)
    h, w = sim.resolution
    config.update(cfg.world_options, height=h, width=w, max_episode_steps=0)
    return make_world(sim.schema.world, config)


def run_branches(cfg: BranchConfig, progress: bool = True) -> dict[str, Any]:
    """Run every branch from every fresh start in the real simulator and in the model; return the report."""
    probe_sim = Simulator.load(cfg.world, num_streams=1, device=cfg.device, backend="eager", sampling=cfg.sampling)
    world = open_real(probe_sim, cfg)
    try:
        starts = make_starts(world, cfg, probe_sim.context_frames)
        names = branch_names(world)
        real = {}
        total = len(starts) * len(names)
        with tqdm(total=total, desc="real branches", unit="branch", disable=not progress) as bar:
            for i, start in enumerate(starts):
                for b in names:
                    real[i, b] = run_real(world, start, b, cfg.horizon)
                    bar.update()
    finally:
        world.close()
    streams = [(i, b) for i in range(len(starts)) for b in names]
    sim = Simulator.load(
        cfg.world, num_streams=len(streams), device=cfg.device, backend=cfg.backend, sampling=cfg.sampling, seed=0
    )
    context = np.stack([starts[i].frames for i, _ in streams])
    context_actions = np.stack([starts[i].frame_actions for i, _ in streams])
    first = sim.reset(context, context_actions)
    model = np.zeros((len(streams), cfg.horizon, *first.shape[1:]), np.uint8)
    term = np.zeros((len(streams), cfg.horizon), np.float32)
    for t in tqdm(range(cfg.horizon), desc="model branches", unit="frame", disable=not progress):
        out = sim.step([int(real[key].actions[t]) for key in streams])
        model[:, t], term[:, t] = out.frames, out.term_prob
    real_frames = np.stack([real[key].frames for key in streams])
    ended = np.array([real[key].ended for key in streams])
    report = _report(cfg, sim, starts, names, streams, first, model, real_frames, term, ended)
    report["_frames"] = {"first": first, "model": model, "real": real_frames, "streams": streams}
    return report


def _report(
    cfg: BranchConfig,
    sim: Simulator,
    starts: list[Start],
    names: list[str],
    streams: list[tuple[int, str]],
    first: np.ndarray,
    model: np.ndarray,
    real: np.ndarray,
    term: np.ndarray,
    ended: np.ndarray,
) -> dict[str, Any]:
    """Per branch kind and overall: PSNR/SSIM against copy-last and the probes' agreement.

    ``term`` is the model's termination probability per frame ``(S, T)``, ``ended`` the frame each real branch's
    episode ended at (0: it did not).
    """
    copy_last = np.broadcast_to(first[:, None], real.shape)
    p_model, p_copy = psnr(model, real), psnr(copy_last, real)  # (S, T)
    s_model, s_copy = ssim(model, real), ssim(np.ascontiguousarray(copy_last), real)
    probe = PROBES.get(sim.schema.world)
    pm = probe(model) if probe else {}
    pr = probe(real) if probe else {}
    branches: dict[str, Any] = {}
    for b in names:
        rows = [k for k, (_, name) in enumerate(streams) if name == b]
        entry: dict[str, Any] = {
            "psnr": {"model": _mean(p_model[rows]), "copy_last": _mean(p_copy[rows])},
            "ssim": {"model": _mean(s_model[rows]), "copy_last": _mean(s_copy[rows])},
            "psnr_per_horizon": {
                "model": np.round(p_model[rows].mean(0), 3).tolist(),
                "copy_last": np.round(p_copy[rows].mean(0), 3).tolist(),
            },
            "frames_beating_copy_last": round(float((p_model[rows].mean(0) > p_copy[rows].mean(0)).mean()), 4),
        }
        if "speed" in pm:
            entry["probes"] = _probe_scores(pm, pr, rows, brake=b == "brake")
        elif "crashed" in pm:
            entry["probes"] = _traffic_scores(pm, pr, rows)
        branches[b] = entry
    out: dict[str, Any] = {
        "world": sim.name,
        "starts": len(starts),
        "start_seeds": [s.seed for s in starts],
        "horizon": cfg.horizon,
        "sampling": _sampling_dict(sim),
        "branches": branches,
    }
    every = list(range(len(streams)))
    if "speed" in pm:
        scores = _probe_scores(pm, pr, every, brake=False)
        out["agreement"] = {k: scores[k] for k in ("moving_agrees", "on_road_agrees")}
    elif "crashed" in pm:
        out["agreement"] = {**_traffic_scores(pm, pr, every), "termination": _termination(term, ended)}
    return out


def _traffic_scores(pm: dict, pr: dict, rows: list[int]) -> dict[str, Any]:
    """Crashes (the ego car drawn crashed in any frame of the branch) and the ego lane at the end, model vs real."""
    crash_m, crash_r = pm["crashed"][rows].any(1), pr["crashed"][rows].any(1)
    lane_m, lane_r = _end_lane(pm["lane"][rows]), _end_lane(pr["lane"][rows])
    return {
        "crash_agrees": round(float((crash_m == crash_r).mean()), 4),
        "crashes": {"real": int(crash_r.sum()), "model": int(crash_m.sum()), "both": int((crash_m & crash_r).sum())},
        # A lane the probe cannot read (no lane lines: a smeared road) counts as a disagreement.
        "lane_agrees": round(float((lane_m == lane_r).mean()), 4),
    }


def _end_lane(lane: np.ndarray) -> np.ndarray:
    """Median lane of the last 5 frames per row; NaN where none of them shows lane lines."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row is an answer here, not an accident
        return np.nanmedian(lane[:, -5:], axis=1)


def _termination(term: np.ndarray, ended: np.ndarray) -> dict[str, int]:
    """Branches whose real episode ended (a crash) against those where the model's termination head fired (> 0.5)."""
    fired = (term > 0.5).any(1)
    return {"real": int((ended > 0).sum()), "model": int(fired.sum()), "both": int((fired & (ended > 0)).sum())}


def _probe_scores(pm: dict, pr: dict, rows: list[int], brake: bool) -> dict[str, Any]:
    """Moving/stopped and on/off the road at the end of the branch (last 5 frames); the brake's stop frame."""
    moving_m = pm["speed"][rows, -5:].mean(1) >= STOPPED_SPEED
    moving_r = pr["speed"][rows, -5:].mean(1) >= STOPPED_SPEED
    road_m = pm["on_road"][rows, -5:].mean(1) >= 0.5
    road_r = pr["on_road"][rows, -5:].mean(1) >= 0.5
    out: dict[str, Any] = {
        "moving_agrees": round(float((moving_m == moving_r).mean()), 4),
        "frozen_while_real_moves": round(float((~moving_m & moving_r).mean()), 4),
        "on_road_agrees": round(float((road_m == road_r).mean()), 4),
        "speed_error": round(float(np.abs(pm["speed"][rows] - pr["speed"][rows]).mean()), 3),
        "real_speed_end": round(float(pr["speed"][rows, -5:].mean()), 2),
        "model_speed_end": round(float(pm["speed"][rows, -5:].mean()), 2),
    }
    if brake:
        stop_m, stop_r = _stop_frame(pm["speed"][rows]), _stop_frame(pr["speed"][rows])
        both = (stop_m >= 0) & (stop_r >= 0)
        out["stop_frame"] = {
            "real": stop_r.tolist(),
            "model": stop_m.tolist(),
            "within_3": round(float((both & (np.abs(stop_m - stop_r) <= 3)).sum() / max((stop_r >= 0).sum(), 1)), 4),
        }
    return out


def _stop_frame(speed: np.ndarray) -> np.ndarray:
    """First frame (1-based) whose probed speed is below :data:`STOPPED_SPEED`; -1 when it never stops."""
    stopped = speed < STOPPED_SPEED
    return np.where(stopped.any(1), stopped.argmax(1) + 1, -1)


def _mean(x: np.ndarray) -> float:
    return round(float(np.mean(x)), 3)


def _sampling_dict(sim: Simulator) -> dict[str, Any]:
    from worldsim.config import to_dict

    return to_dict(sim.sampling)
