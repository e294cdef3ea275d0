"""A world's RL figure: agents trained only inside the world with several training seeds, scored in reality.

``scripts/rl_figure.py`` trains and evaluates; this module turns the evaluations into the record a model card
carries (``card.json["rl"]``) and its markdown. The record names the SHA-256 of the world file and of the start
states it was measured on (agents train from those starts): a card whose world or starts have changed since shows
"not measured for this world" instead of an old figure (:func:`rl_section`), and ``scripts/model_card.py`` drops a
record that no longer matches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from worldsim.eval.report import fmt_number as num
from worldsim.rl.evaluate import normalised_score

#: README markers around the RL section, so the section is replaced in place when the figure is regenerated.
BEGIN, END = "<!-- rl-figure -->", "<!-- /rl-figure -->"

#: Published scores on the same game, stated beside ours (their protocols differ: see each paper).
REFERENCES: dict[str, str] = {
    "breakout": "human 30.5, random 1.7; agents trained in a world model with 100k real steps: "
    "DIAMOND 132.5, IRIS 83.7, Delta-IRIS 226 (Atari 100k)",
}

MODEL, REAL = "model", "real"

if TYPE_CHECKING:
    from worldsim.assets import WorldFiles


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, as ``checksums.json`` records it."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def world_digest(files: WorldFiles) -> dict[str, str]:
    """SHA-256 of what an RL figure depends on: the world file and its start states."""
    digest = {"world_sha256": file_sha256(files.world)}
    if files.starts is not None and Path(files.starts).is_file():
        digest["starts_sha256"] = file_sha256(files.starts)
    return digest


def is_current(record: Mapping[str, Any] | None, digest: Mapping[str, str]) -> bool:
    """Whether ``record`` was measured on exactly the files of ``digest``."""
    return bool(record) and all(record.get(k) == v for k, v in digest.items())


def _stats(values: Sequence[float]) -> dict[str, Any]:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else None, "n": len(v)}


def summarise(
    baselines: Mapping[str, Sequence[float]], agents: Mapping[str, Mapping[int, Sequence[float]]]
) -> dict[str, Any]:
    """Rows of the figure from episode returns.

    Args:
        baselines: Label -> returns of a fixed policy (``random``, ``scripted``) on the evaluation episodes.
        agents: ``model`` / ``real`` -> training seed -> returns of that seed's agent on the same episodes.

    Returns:
        ``rows`` (label -> mean and sd over episodes; for trained agents, the mean over seeds of each seed's mean
        and the sd across seeds, with the per-seed means) and the normalised scores of the model-trained agent,
        against PPO trained in reality with the same steps and against the scripted policy.
    """
    rows: dict[str, dict[str, Any]] = {}
    for label, returns in baselines.items():
        r = np.asarray(returns, dtype=float)
        rows[label] = {"mean": float(r.mean()), "sd_episodes": float(r.std()), "episodes": len(r)}
    for kind, by_seed in agents.items():
        if not by_seed:
            continue
        per_seed = {int(s): float(np.mean(r)) for s, r in sorted(by_seed.items())}
        stats = _stats(list(per_seed.values()))
        episodes = np.concatenate([np.asarray(r, dtype=float) for r in by_seed.values()])
        rows[kind] = {
            "mean": stats["mean"],
            "sd_seeds": stats["sd"],
            "sd_episodes": float(episodes.std()),
            "seeds": per_seed,
            "episodes": int(len(episodes) // len(by_seed)),
        }
    rand = rows.get("random", {}).get("mean", float("nan"))
    model = rows.get(MODEL, {}).get("mean", float("nan"))
    normalised = {
        "vs_real_trained": normalised_score(model, rand, rows.get(REAL, {}).get("mean", float("nan"))),
        "vs_scripted": normalised_score(model, rand, rows.get("scripted", {}).get("mean", float("nan"))),
    }
    return {"rows": rows, "normalised": {k: (None if not np.isfinite(v) else v) for k, v in normalised.items()}}


def rl_markdown(record: Mapping[str, Any]) -> str:
    """The figure as markdown: protocol, table, normalised scores."""
    p, t, rows = record["protocol"], record["training"], record["rows"]
    seeds = p["eval_seeds"]
    labels = {
        "random": "uniform random",
        "scripted": "scripted policy",
        MODEL: f"PPO trained **in the world**, {t['steps']:,} steps",
        REAL: f"PPO trained in the real simulator, {t.get('real_steps', 0):,} steps",
    }
    lines = [
        f"Measured {record['measured']} on {record['machine']} by `{record['command']}`, on the world file with "
        f"SHA-256 `{record['world_sha256'][:12]}` and its start states `{record.get('starts_sha256', '-')[:12]}`.",
        "",
        f"- Training: SB3 PPO (`CnnPolicy`, {t['frame_stack']} stacked frames), {t['num_envs']} world streams, "
        f"{t['episode_steps']}-step imagined episodes from the world's start states; training seeds "
        f"{', '.join(map(str, t['seeds']))}.",
        f"- Evaluation: real `{record['real_world']}` ({p['source']}), {len(seeds)} full episodes per agent on seeds "
        f"{seeds[0]}-{seeds[-1]} (never used for training), actions {p['actions']}; the same episodes for every "
        "policy.",
        "",
        "| policy | real return (mean) | sd across training seeds | sd across episodes | per training seed |",
        "|---|---|---|---|---|",
    ]
    for key in ("random", "scripted", MODEL, REAL):
        if key not in rows:
            continue
        row = rows[key]
        per_seed = ", ".join(f"{s}: {num(v, 1)}" for s, v in row.get("seeds", {}).items()) or "-"
        lines.append(
            f"| {labels[key]} | {num(row['mean'], 1)} | {num(row.get('sd_seeds'), 1)} | {num(row['sd_episodes'], 1)} "
            f"| {per_seed} |"
        )
    n = record["normalised"]
    real = (
        f"**{num(n.get('vs_real_trained'), 2)}** against PPO trained in reality with the same steps"
        if REAL in rows
        else "no reference trained in reality (`--real-steps`)"
    )
    lines += [
        "",
        f"Normalised score of the world-trained agent, (agent - random) / (reference - random): {real}; "
        f"**{num(n.get('vs_scripted'), 2)}** against the scripted policy.",
    ]
    if record.get("reference"):
        lines.append(f"Published on this game: {record['reference']}.")
    lines += _in_world_lines(record.get("in_world"))
    return "\n".join(lines) + "\n"


def _in_world_lines(in_world: Mapping[str, Any] | None) -> list[str]:
    """What the world pays inside it: doing nothing, random actions, the trained agents (figures without it: none)."""
    if not in_world:
        return []
    rows = in_world["rows"]
    parts = [
        f"the `noop` action every step {num(rows['noop']['mean'], 1)}",
        f"uniform random {num(rows['random']['mean'], 1)}",
    ]
    if "model" in rows:
        parts.append(f"the trained agents {num(rows['model']['mean'], 1)} (their last training rollouts)")
    return [
        "",
        f"Paid inside the world, per {in_world['episode_steps']}-step imagined episode ({rows['noop']['streams']} "
        f"streams from its start states): {', '.join(parts)}. A world that pays doing nothing about as much as a "
        "trained agent earns there rewards something the game does not.",
    ]


def rl_section(record: Mapping[str, Any] | None, digest: Mapping[str, str], name: str) -> str:
    """The card's RL section between :data:`BEGIN` and :data:`END`; "not measured" when the world has changed.

    Args:
        record: The figure's record, or None.
        digest: :func:`world_digest` of the files the card describes now.
        name: The world's shipped name.
    """
    redo = f"`python scripts/rl_figure.py {name} --card` regenerates it"
    if record and is_current(record, digest):
        body = rl_markdown(record)
    elif record:
        body = (
            f"**Not measured for this world.** The last figure was measured on other files (world SHA-256 "
            f"`{record.get('world_sha256', '?')[:12]}`, start states `{record.get('starts_sha256', '?')[:12]}`); "
            f"{redo}.\n"
        )
    else:
        body = f"Not measured yet; {redo}.\n"
    return f"{BEGIN}\n## RL: trained in the world, scored in reality\n\n{body}{END}\n"


def put_section(text: str, section: str) -> str:
    """``text`` with its RL section replaced by ``section`` (appended when it has none)."""
    start, end = text.find(BEGIN), text.find(END)
    if start >= 0 and end > start:
        rest = text[end + len(END) :].lstrip("\n")
        return text[:start] + section + ("\n" + rest if rest else "")
    return text.rstrip("\n") + "\n\n" + section
