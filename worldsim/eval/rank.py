"""Policy-ranking validity: does a policy that is better in the model also do better in the real simulator?

Driving engineers pick policies by their scores in a simulator. WorldSim has the real simulator, so it can measure
whether its ranking holds: a suite of policies of clearly different quality, each driven closed loop from the same
fresh start states (unseen simulator seeds) for ``horizon`` frames inside the model (its reward head gives the
return) and in the real simulator (the real reward). The report gives each policy's mean return in both, the
safety count the world's probes read from the frames (CarRacing: frames off the road), and Spearman's rho and
Kendall's tau between the two rankings, with bootstrap intervals over the starts.

The policies act on the frames they see (generated in the model, real in the simulator); privileged policies,
which read simulator state, cannot drive a model and are not in the suite.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from worldsim.eval.branches import BranchConfig, Start, make_starts, open_real, reach
from worldsim.io import atomic_write_bytes, atomic_write_json
from worldsim.policies.base import LearnedWorld, Policy, make_policy
from worldsim.probes import PROBES
from worldsim.sampling.simulator import Simulator
from worldsim.sources.base import World

log = logging.getLogger(__name__)

#: ``label -> (policy name, keyword arguments)`` per world: clearly different qualities, all acting on frames.
SUITES: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "carracing": {
        "pilot": ("pilot", {}),
        "pilot, slow": ("pilot", {"speed": 12.0}),
        "pilot, noise 0.2": ("pilot", {"noise": 0.2}),
        "pilot, noise 0.5": ("pilot", {"noise": 0.5}),
        "brake-happy pilot": ("pilot", {"brake": 0.15}),
        "always gas": ("constant", {"action": "gas"}),
        "random": ("random", {}),
        "coast": ("constant", {"action": "noop"}),
    },
    # The frame-reading pilot, sloppier copies of it, and players that leave the ball to itself.
    "breakout": {
        "pilot": ("pilot", {}),
        "pilot, noise 0.05": ("pilot", {"noise": 0.05}),
        "pilot, noise 0.2": ("pilot", {"noise": 0.2}),
        "pilot, aims 6 px off": ("pilot", {"offset": 6.0}),
        "random": ("random", {}),
        "fire, paddle still": ("constant", {"action": "fire"}),
        "noop": ("constant", {"action": "noop"}),
    },
    # No frame-only highway driver yet: held meta-actions and random ones, whose speed and crash rates differ.
    "highway": {
        "faster": ("constant", {"action": "faster"}),
        "keep": ("constant", {"action": "noop"}),
        "slower": ("constant", {"action": "slower"}),
        "left lane": ("constant", {"action": "lane_left"}),
        "right lane": ("constant", {"action": "lane_right"}),
        "random": ("random", {}),
    },
}
DEFAULT_SUITE = {"random": ("random", {}), "noop": ("constant", {"action": 0})}


@dataclass
class RankConfig:
    """Settings of a ranking run (see :class:`~worldsim.eval.branches.BranchConfig` for the shared ones).

    Attributes:
        world: Shipped world name or world file.
        starts: Fresh start states; every policy starts from each.
        seed: First simulator seed.
        horizon: Frames each policy drives.
        bootstrap: Bootstrap resamples of the starts for the intervals.
    """

    world: str = "carracing"
    starts: int = 8
    seed: int = 40000
    horizon: int = 150
    bootstrap: int = 1000
    device: str = "auto"
    backend: str = "auto"
    sampling: dict[str, Any] | None = None
    world_options: dict[str, Any] = field(default_factory=dict)


def suite(world: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The policy suite of ``world``."""
    return SUITES.get(world, DEFAULT_SUITE)


def _policy(spec: tuple[str, dict[str, Any]], world: str, owner: Any, seed: Any) -> Policy:
    policy = make_policy(spec[0], world, **spec[1])
    policy.reset(owner, np.random.default_rng(seed))
    return policy


def run_real(world: World, start: Start, spec: tuple[str, dict[str, Any]], horizon: int, seed: Any) -> dict:
    """Return, safety count and frames of one policy from ``start`` in the real simulator."""
    frame = reach(world, start)
    policy = _policy(spec, world.name, world, seed)
    total, frames = 0.0, []
    for _ in range(horizon):
        step = world.step(int(policy.act(frame)))
        total += step.reward
        if step.terminated or step.truncated:
            break
        frame = step.frame
        frames.append(frame)
    return {"return": total, "frames": np.stack(frames) if frames else np.zeros((0, *frame.shape), np.uint8)}


def run_rank(cfg: RankConfig, progress: bool = True) -> dict[str, Any]:
    """Score every policy of the world's suite in the model and in the real simulator; return the report."""
    probe_sim = Simulator.load(cfg.world, num_streams=1, device=cfg.device, backend="eager", sampling=cfg.sampling)
    name = probe_sim.schema.world
    policies = suite(name)
    bcfg = BranchConfig(world=cfg.world, starts=cfg.starts, seed=cfg.seed, world_options=cfg.world_options)
    world = open_real(probe_sim, bcfg)
    labels = list(policies)
    real: dict[tuple[str, int], dict] = {}
    try:
        starts = make_starts(world, bcfg, probe_sim.context_frames)
        with tqdm(total=len(labels) * len(starts), desc="real", unit="run", disable=not progress) as bar:
            for label in labels:
                for i, start in enumerate(starts):
                    real[label, i] = run_real(world, start, policies[label], cfg.horizon, [start.seed, 7])
                    bar.update()
    finally:
        world.close()
    streams = [(label, i) for label in labels for i in range(len(starts))]
    sim = Simulator.load(
        cfg.world, num_streams=len(streams), device=cfg.device, backend=cfg.backend, sampling=cfg.sampling, seed=0
    )
    model_stack, rewards, term = run_model(
        sim, [policies[label] for label, _ in streams], [starts[i] for _, i in streams], cfg.horizon, progress
    )
    # An episode ends where the termination head first fires: later rewards do not count.
    ended = np.maximum.accumulate(term > 0.5, axis=1)
    before = np.concatenate([np.zeros_like(ended[:, :1]), ended[:, :-1]], axis=1)
    returns = np.where(before, 0.0, rewards).sum(axis=1)
    return _report(cfg, sim, labels, starts, streams, real, returns, model_stack)


def run_model(
    sim: Simulator, specs: list[tuple[str, dict[str, Any]]], starts: list[Start], horizon: int, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each stream's policy closed loop in the world from its start.

    Returns frames ``(S, T, H, W, 3)``, rewards and termination probabilities ``(S, T)``. Policies are seeded as
    :func:`run_real` seeds them, so the model and the real game see the same players.
    """
    frames = sim.reset(np.stack([s.frames for s in starts]), np.stack([s.frame_actions for s in starts]))
    world = sim.schema.world
    agents = [
        _policy(spec, world, LearnedWorld(sim.schema), [s.seed, 7]) for spec, s in zip(specs, starts, strict=True)
    ]
    model_frames, rewards, term = [], [], []
    for _ in tqdm(range(horizon), desc="model", unit="frame", disable=not progress):
        out = sim.step([int(a.act(f)) for a, f in zip(agents, frames, strict=True)])
        frames = out.frames
        model_frames.append(frames)
        rewards.append(out.reward)
        term.append(out.term_prob)
    return np.stack(model_frames, axis=1), np.stack(rewards, axis=1), np.stack(term, axis=1)


def _report(cfg, sim, labels, starts, streams, real, model_returns, model_frames) -> dict[str, Any]:
    n = len(starts)
    model = np.array([[model_returns[streams.index((label, i))] for i in range(n)] for label in labels])
    actual = np.array([[real[label, i]["return"] for i in range(n)] for label in labels])
    # The off-road count needs a probe that reads the road (CarRacing's); other worlds are ranked by return only.
    probe = PROBES.get(sim.schema.world)
    if probe is not None and "on_road" not in probe(model_frames[0, :1]):
        probe = None
    rows = {}
    for k, label in enumerate(labels):
        row = {
            "model_return": round(float(model[k].mean()), 2),
            "real_return": round(float(actual[k].mean()), 2),
            "real_return_std": round(float(actual[k].std()), 2),
        }
        if probe is not None:
            off_m = [(~probe(model_frames[streams.index((label, i))])["on_road"]).mean() for i in range(n)]
            off_r = [(~probe(real[label, i]["frames"])["on_road"]).mean() if len(real[label, i]["frames"]) else 0.0
                     for i in range(n)]  # fmt: skip
            row["model_off_road"] = round(float(np.mean(off_m)), 4)
            row["real_off_road"] = round(float(np.mean(off_r)), 4)
        rows[label] = row
    rng = np.random.default_rng(0)
    boot = [rng.integers(n, size=n) for _ in range(cfg.bootstrap)]
    stats = {
        "spearman": _with_interval(spearman, model, actual, boot),
        "kendall": _with_interval(kendall, model, actual, boot),
    }
    if probe is not None:
        off_m = np.array([rows[label]["model_off_road"] for label in labels])
        off_r = np.array([rows[label]["real_off_road"] for label in labels])
        stats["spearman_off_road"] = round(float(spearman(off_m, off_r)), 4)
    return {
        "world": sim.name,
        "starts": n,
        "start_seeds": [s.seed for s in starts],
        "horizon": cfg.horizon,
        "policies": rows,
        "rank_agreement": stats,
    }


def _with_interval(stat, model: np.ndarray, actual: np.ndarray, boot: list[np.ndarray]) -> dict[str, float]:
    """The statistic on the per-policy means, with a 95% bootstrap interval over the starts."""
    value = stat(model.mean(1), actual.mean(1))
    draws = np.array([stat(model[:, b].mean(1), actual[:, b].mean(1)) for b in boot])
    draws = draws[np.isfinite(draws)]
    lo, hi = np.percentile(draws, [2.5, 97.5]) if len(draws) else (np.nan, np.nan)
    return {"value": round(float(value), 4), "ci95": [round(float(lo), 4), round(float(hi), 4)]}


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (1-based)."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tied = x == v
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson on tie-averaged ranks); nan when either side is constant."""
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def kendall(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b over all pairs; nan when either side is constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    i, j = np.triu_indices(len(a), 1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    n_a, n_b = (da != 0).sum(), (db != 0).sum()
    if n_a == 0 or n_b == 0:
        return float("nan")
    return float((da * db).sum() / np.sqrt(n_a * n_b))


def write_rank(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``rank.json`` and ``rank.png`` (model return against real return, one point per policy)."""
    out_dir = Path(out_dir)
    paths = {"json": out_dir / "rank.json", "plot": out_dir / "rank.png"}
    atomic_write_json(paths["json"], report)
    atomic_write_bytes(paths["plot"], _scatter(report))
    return paths


def _scatter(report: dict[str, Any]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, row in report["policies"].items():
        ax.scatter(row["real_return"], row["model_return"])
        ax.annotate(label, (row["real_return"], row["model_return"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")  # fmt: skip
    s = report["rank_agreement"]["spearman"]
    ax.set_title(f"{report['world']}: Spearman {s['value']:.2f} (95% {s['ci95'][0]:.2f}..{s['ci95'][1]:.2f})", size=9)
    ax.set_xlabel(f"real return ({report['horizon']} frames, mean of {report['starts']} starts)")
    ax.set_ylabel("return in the model")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def format_rank(report: dict[str, Any]) -> str:
    """A plain table, one row per policy, then the rank statistics."""
    probes = any("real_off_road" in r for r in report["policies"].values())
    head = f"{'policy':<20} {'model':>8} {'real':>8} {'± real':>7}"
    head += f" {'off-road model':>14} {'off-road real':>13}" if probes else ""
    lines = [head]
    for label, r in report["policies"].items():
        line = f"{label:<20} {r['model_return']:>8.1f} {r['real_return']:>8.1f} {r['real_return_std']:>7.1f}"
        if probes:
            line += f" {r['model_off_road']:>14.0%} {r['real_off_road']:>13.0%}"
        lines.append(line)
    for key, v in report["rank_agreement"].items():
        lines.append(f"{key}: {v['value']} (95% {v['ci95']})" if isinstance(v, dict) else f"{key}: {v}")
    return "\n".join(lines)
