"""Regenerate a world's RL figure with one command: PPO trained only inside the world, scored in reality.

Several training seeds; with ``--card`` the figure is written into the world's model card.

Stages, each resumable (re-running the same command continues where it stopped):

1. per training seed, ``scripts/train_agent.py --stage model`` (and ``--stage real`` with ``--real-steps``: PPO
   with the same budget in the real simulator, the reference of the normalised score) into ``OUT/seed-S``;
2. every policy on the same real episodes: uniform random, the world's scripted policy, each seed's agents;
   each evaluation is kept in ``OUT/eval/`` and not redone;
3. ``OUT/rl.json`` and ``OUT/rl.md``: mean over training seeds, spread across seeds and across episodes, normalised
   scores, the protocol, and the SHA-256 of the world file measured; ``--card`` puts the record into
   ``assets/NAME/card.json`` and the section into ``assets/NAME/README.md``. A card whose world file changed since
   says "not measured for this world" (``worldsim.rl.figure.rl_section``), so a retrained world cannot keep an old
   claim.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

EPILOG = """examples:
  python scripts/rl_figure.py carracing --out runs/rl/carracing --seeds 0 1 2 --steps 100000 --card
  python scripts/rl_figure.py breakout --out runs/rl/breakout --seeds 0 1 2 3 4 --steps 100000 \\
      --real-steps 100000 --card"""

TRAIN_AGENT = Path(__file__).with_name("train_agent.py")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("world", help="shipped world name (or world.safetensors path; --card needs a shipped name)")
    p.add_argument("--out", help="run directory (default runs/rl/WORLD)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    p.add_argument("--steps", type=int, default=100_000, help="PPO env steps inside the world, per seed")
    p.add_argument("--real-steps", type=int, default=0, help="PPO env steps in reality per seed (0: no reference)")
    p.add_argument("--num-envs", type=int, default=16, help="world streams (one batched call)")
    p.add_argument("--episode-steps", type=int, default=200, help="imagined episode length")
    p.add_argument("--frame-stack", type=int, default=2, help="frames stacked as the agent's observation")
    p.add_argument("--eval-episodes", type=int, default=10, help="real episodes per agent")
    p.add_argument("--eval-seed", type=int, default=10_000, help="seed of the first evaluation episode")
    p.add_argument("--actions", choices=["sampled", "greedy"], default="sampled", help="how agents act in reality")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--eval-max-steps", type=int, help="real episode length (default: the world's own)")
    p.add_argument("--card", action="store_true", help="write the figure into assets/WORLD (card.json, README.md)")
    args, extra = p.parse_known_args(argv)
    if any(not a.startswith("-") for a in extra[:1]):
        p.error(f"unrecognised arguments: {' '.join(extra)}")
    args.train_args = extra  # PPO settings passed through to train_agent.py (e.g. --n-steps 256 --lr 3e-4)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def train_seeds(args: argparse.Namespace, out: Path) -> None:
    """Run (or resume) ``train_agent.py`` for every seed; it skips what is already trained."""
    common = [
        "--num-envs", str(args.num_envs), "--episode-steps", str(args.episode_steps),
        "--frame-stack", str(args.frame_stack), "--threads", str(args.threads),
    ]  # fmt: skip
    for seed in args.seeds:
        run = out / f"seed-{seed}"
        stages = [["--stage", "model", "--steps", str(args.steps)]]
        if args.real_steps:
            stages.append(["--stage", "real", "--real-steps", str(args.real_steps)])
        for stage in stages:
            cmd = [sys.executable, str(TRAIN_AGENT), args.world, "--out", str(run), "--seed", str(seed)]
            subprocess.run(cmd + stage + common + args.train_args, check=True)


def _cached(path: Path, compute) -> list[float]:
    from worldsim.io import atomic_write_json

    if path.is_file():
        return json.loads(path.read_text())["returns"]
    result = compute()
    atomic_write_json(path, result.to_dict())
    return result.returns


def evaluate_seeds(args: argparse.Namespace, out: Path, world: str) -> tuple[dict, dict]:
    """Returns of the baselines and of every seed's agents on the same real episodes."""
    from worldsim.errors import CheckpointError
    from worldsim.policies.base import available_policies
    from worldsim.rl.agent_file import load_agent_file
    from worldsim.rl.evaluate import PolicyActor, RandomActor, evaluate
    from worldsim.rl.figure import MODEL, REAL
    from worldsim.rl.sb3 import FrameStackAgent

    seeds = eval_seeds(args)
    tag = f"{seeds[0]}-{seeds[-1]}" + (f"_max{args.eval_max_steps}" if args.eval_max_steps else "")
    (out / "eval").mkdir(parents=True, exist_ok=True)
    baselines = {"random": RandomActor()}
    if "scripted" in available_policies(world):
        baselines["scripted"] = PolicyActor("scripted", world)
    options = {"max_episode_steps": args.eval_max_steps} if args.eval_max_steps else {}

    def run(actor: Any, name: str) -> list[float]:
        return _cached(out / "eval" / f"{name}.json", lambda: evaluate(actor, world, seeds, name=name, **options))

    base = {name: run(actor, f"{name}_{tag}") for name, actor in baselines.items()}
    agents: dict[str, dict[int, list[float]]] = {MODEL: {}, REAL: {}}
    for kind in agents:
        if kind == REAL and not args.real_steps:
            continue
        for seed in args.seeds:
            path = out / f"seed-{seed}" / kind / "agent.safetensors"
            if not path.is_file():
                raise CheckpointError(f"{path}: agent not found; re-run this command to train it")
            agent = load_agent_file(path)
            actor = FrameStackAgent(agent, args.frame_stack, deterministic=args.actions == "greedy")
            agents[kind][seed] = run(actor, f"{kind}_seed{seed}_{agent.num_timesteps}steps_{args.actions}_{tag}")
    return base, agents


def in_world(args: argparse.Namespace, out: Path, digest: dict) -> dict[str, Any]:
    """What doing nothing and acting at random are paid inside the world, next to what the trained agents earned there.

    The agents' figure is the last ``rollout/ep_rew_mean`` of their training log; the fixed policies run the same
    imagined episodes (``imagined_returns``), kept in ``OUT/eval/`` per world file.
    """
    import csv

    from worldsim.rl.evaluate import IMAGINED_POLICIES, EvalResult, imagined_returns

    tag = f"{digest['world_sha256'][:12]}_{args.num_envs}x{args.episode_steps}"
    rows: dict[str, Any] = {}
    for policy in IMAGINED_POLICIES:
        path = out / "eval" / f"imagined_{policy}_{tag}.json"

        def compute(p: str = policy) -> EvalResult:
            return EvalResult(f"imagined {p}", imagined_returns(args.world, p, args.num_envs, args.episode_steps))

        returns = _cached(path, compute)
        rows[policy] = {"mean": float(sum(returns) / len(returns)), "streams": len(returns)}
    agents = {}
    for seed in args.seeds:
        log = out / f"seed-{seed}" / "model" / "progress.csv"
        text = log.read_text().splitlines() if log.is_file() else []
        values = [r.get("rollout/ep_rew_mean") for r in csv.DictReader(text)]
        values = [float(v) for v in values if v]
        if values:
            agents[seed] = values[-1]
    if agents:
        rows["model"] = {"mean": sum(agents.values()) / len(agents), "seeds": agents}
    return {"episode_steps": args.episode_steps, "rows": rows}


def eval_seeds(args: argparse.Namespace) -> list[int]:
    return list(range(args.eval_seed, args.eval_seed + args.eval_episodes))


def build_record(args: argparse.Namespace, world: str, digest: dict, base: dict, agents: dict) -> dict[str, Any]:
    """The figure's record: protocol, training settings, rows, normalised scores."""
    from worldsim.rl.figure import REFERENCES, summarise
    from worldsim.runtime import cpu_info
    from worldsim.sources.base import make_world

    source = make_world(world, **({"max_episode_steps": args.eval_max_steps} if args.eval_max_steps else {}))
    config = dataclasses.asdict(source.config) if dataclasses.is_dataclass(source.config) else {}
    shown = ("frameskip", "repeat_action_probability", "action_repeat", "max_episode_steps")
    protocol_text = ", ".join(f"{k} {config[k]}" for k in shown if k in config)
    command = " ".join(["python scripts/rl_figure.py", *args.argv])
    return {
        "world": args.world,
        **digest,
        "real_world": world,
        "measured": time.strftime("%Y-%m-%d"),
        "machine": f"{cpu_info()['model'] or 'unknown CPU'}, {args.threads} thread(s)",
        "command": command,
        "training": {
            "algorithm": "PPO (stable-baselines3, CnnPolicy)",
            "seeds": list(args.seeds),
            "steps": args.steps,
            "real_steps": args.real_steps,
            "num_envs": args.num_envs,
            "episode_steps": args.episode_steps,
            "frame_stack": args.frame_stack,
            "train_args": args.train_args,
        },
        "protocol": {
            "eval_seeds": eval_seeds(args),
            "eval_max_steps": args.eval_max_steps,
            "actions": args.actions,
            "source": protocol_text,
            "config": config,
        },
        "reference": REFERENCES.get(world),
        **summarise(base, agents),
    }


def write_card(name: str, record: dict[str, Any]) -> Path:
    """Put the record into ``assets/NAME/card.json`` and its section into ``README.md``."""
    from worldsim.assets import resolve_world
    from worldsim.io import atomic_write_bytes, atomic_write_json
    from worldsim.rl.figure import put_section, rl_section, world_digest

    folder = resolve_world(name).world.parent
    card_path, readme = folder / "card.json", folder / "README.md"
    card = json.loads(card_path.read_text()) if card_path.is_file() else {"name": name}
    card["rl"] = record
    atomic_write_json(card_path, card)
    text = readme.read_text() if readme.is_file() else f"# `{name}` world\n"
    section = rl_section(record, world_digest(resolve_world(name)), name)
    atomic_write_bytes(readme, put_section(text, section).encode())
    return readme


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import torch

    from worldsim.assets import resolve_world, shipped_worlds, source_world
    from worldsim.errors import ConfigError, Error
    from worldsim.io import atomic_write_bytes, atomic_write_json
    from worldsim.rl.figure import rl_markdown, world_digest

    torch.set_num_threads(args.threads)
    out = Path(args.out or f"runs/rl/{Path(args.world).stem}")
    try:
        files = resolve_world(args.world)
        if args.card and args.world not in shipped_worlds():
            raise ConfigError(f"--card needs a shipped world name ({', '.join(shipped_worlds())}), not {args.world}")
        digest = world_digest(files)
        world = source_world(args.world)
        train_seeds(args, out)
        base, agents = evaluate_seeds(args, out, world)
        record = build_record(args, world, digest, base, agents)
        record["in_world"] = in_world(args, out, digest)
    except Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as e:
        print(f"error: training failed (exit {e.returncode}); re-run the same command to resume", file=sys.stderr)
        return 2
    atomic_write_json(out / "rl.json", record)
    atomic_write_bytes(out / "rl.md", rl_markdown(record).encode())
    print(rl_markdown(record))
    if args.card:
        print(f"model card: {write_card(args.world, record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
