"""Train a PPO agent only inside a learned world (``WorldSim-v0``), then score it in the real simulator.

Stages (each resumable; re-running the same command continues where it stopped):

1. ``model``: PPO (stable-baselines3, CNN policy) on ``gym.make_vec("WorldSim-v0", num_envs=N)`` (one batched
   model call per step), with checkpoints every ``--checkpoint-every`` env steps.
2. ``real`` (optional, ``--real-steps``): the same PPO with the same budget in the real simulator
   (``WorldSimReal-v0``, identical spaces), the reference of the normalised score.
3. ``eval``: random, scripted (where the world has one), the model-trained and the real-trained agent on the
   same ``--eval-episodes`` real episodes (fixed seeds). Prints and saves ``results.md`` and ``results.json``.

Normalised score = (agent - random) / (real-trained - random); without a real-trained agent the script also
reports (agent - random) / (scripted - random).

Agents and checkpoints are WorldSim agent files (``agent.safetensors``: weights plus a JSON description, see
:mod:`worldsim.rl.agent_file`), never stable-baselines3 zips, which are unpickled on load and so can run code. A
zip is evaluated only with ``--trust-pickle``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from worldsim.io import atomic_write_bytes, atomic_write_json

EPILOG = """examples:
  python scripts/train_agent.py carracing --out runs/agent-carracing --steps 200000 --num-envs 16
  python scripts/train_agent.py carracing --out runs/agent-carracing --stage eval --eval-episodes 10
  python scripts/train_agent.py carracing --out runs/agent-carracing --real-steps 200000 --stage real
  python scripts/train_agent.py runs/toy/world.safetensors --real-world toy --steps 20000 --out runs/agent-toy"""


MODEL_LABEL, REAL_LABEL = "PPO trained in the model", "PPO trained in the real simulator"
CODEC_LABEL = "PPO trained in the model, real frames through the codec"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("world", help="shipped world name or world.safetensors path")
    p.add_argument("--out", required=True, help="run directory (agents, logs, results)")
    p.add_argument("--stage", choices=["all", "model", "real", "eval"], default="all", help="what to run")
    p.add_argument("--real-world", help="source world to evaluate in (default: the world's schema name)")
    p.add_argument("--steps", type=int, default=200_000, help="PPO env steps inside the model")
    p.add_argument("--real-steps", type=int, default=0, help="PPO env steps in the real simulator (0: skip)")
    p.add_argument("--num-envs", type=int, default=16, help="model streams (one batched call)")
    p.add_argument("--real-envs", type=int, default=8, help="real simulators for the real-trained baseline")
    p.add_argument("--episode-steps", type=int, default=200, help="episode length inside the model")
    p.add_argument("--frame-stack", type=int, default=2, help="frames stacked as the agent's observation")
    p.add_argument("--n-steps", type=int, default=128, help="PPO rollout length per env")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=2.5e-4)
    p.add_argument("--ent-coef", type=float, default=0.01)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--world-steps", type=int, help="denoising steps of the world (default: its own)")
    p.add_argument("--backend", default="eager", help="world backend (eager, onnx, compile, auto)")
    p.add_argument("--device", default="auto", help="device of the world model and the agent")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--checkpoint-every", type=int, default=20_000, help="env steps between agent checkpoints")
    p.add_argument("--eval-episodes", type=int, default=10, help="real episodes per policy")
    p.add_argument("--eval-seed", type=int, default=10_000, help="seed of the first evaluation episode")
    p.add_argument("--eval-max-steps", type=int, help="real episode length (default: the world's, 500 for carracing)")
    p.add_argument(
        "--eval-modes",
        default="sampled,greedy",
        help="how agents act in evaluation: sampled (from the policy), greedy (most likely action), or both",
    )
    p.add_argument(
        "--codec-filter",
        action="store_true",
        help="also score the model-trained agent on real frames passed through the world's codec",
    )
    p.add_argument("--model-agent", nargs="+", help="evaluate these agent files instead of OUT/model/agent.safetensors")
    p.add_argument("--real-agent", nargs="+", help="evaluate these agent files instead of OUT/real/agent.safetensors")
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow stable-baselines3 .zip agents in --model-agent/--real-agent (unpickling them can run code)",
    )
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def model_env(args: argparse.Namespace):
    """The learned world as an SB3 VecEnv: N streams, same-step autoreset, stacked frames, episode stats."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import VecFrameStack, VecMonitor

    import worldsim  # noqa: F401 - registers WorldSim-v0
    from worldsim.rl.sb3 import GymVectorToSB3

    venv = gym.make_vec(
        "WorldSim-v0",
        num_envs=args.num_envs,
        world=args.world,
        device=args.device,
        sampling={"steps": args.world_steps} if args.world_steps else None,
        backend=args.backend,
        max_episode_steps=args.episode_steps,
        autoreset_mode="SameStep",
    )
    env = VecMonitor(GymVectorToSB3(venv))
    return VecFrameStack(env, args.frame_stack) if args.frame_stack > 1 else env


def real_env(args: argparse.Namespace, world: str):
    """The real simulator with the same spaces, ``--real-envs`` copies in one process."""
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

    from worldsim.envs.real import RealWorldEnv

    env = DummyVecEnv([lambda: Monitor(RealWorldEnv(world)) for _ in range(args.real_envs)])
    env.seed(args.seed)
    return VecFrameStack(env, args.frame_stack) if args.frame_stack > 1 else env


def train(args: argparse.Namespace, env, out: Path, total: int) -> dict:
    """PPO for ``total`` env steps in ``env``, resuming from the newest checkpoint in ``out/checkpoints``."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import configure

    from worldsim.rl.agent_file import resume_agent, save_agent

    out.mkdir(parents=True, exist_ok=True)
    final = out / "agent.safetensors"
    done = _budget(out)
    if final.exists() and done.get("env_steps", 0) >= total:
        print(f"{final} has {done['env_steps']} steps: skipping training")
        return done
    ckpts = sorted((out / "checkpoints").glob("agent_*_steps.safetensors"), key=lambda p: int(p.stem.split("_")[1]))
    if final.exists():  # a finished shorter run: continue it to the new total
        ckpts.append(final)
    device = "cuda" if args.device in ("auto", "cuda") and _cuda() else "cpu"
    agent = PPO(
        "CnnPolicy",
        env,
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        n_epochs=args.epochs,
        learning_rate=args.lr,
        ent_coef=args.ent_coef,
        gamma=args.gamma,
        gae_lambda=0.95,
        clip_range=0.2,
        seed=args.seed,
        device=device,
        verbose=0,
    )
    if ckpts:  # our own agent file: weights, optimiser state and step count, no unpickling
        resume_agent(agent, ckpts[-1])
        print(f"resuming from {ckpts[-1]} ({agent.num_timesteps} steps)")
    agent.set_logger(configure(str(out), ["stdout", "csv", "tensorboard"]))
    every = max(1, args.checkpoint_every // env.num_envs)

    class Checkpoint(BaseCallback):
        def _on_step(self) -> bool:
            if self.n_calls % every == 0:
                path = out / "checkpoints" / f"agent_{self.num_timesteps}_steps.safetensors"
                path.parent.mkdir(parents=True, exist_ok=True)
                save_agent(path, self.model, with_optimizer=True)
            return True

    start_steps, t0 = agent.num_timesteps, time.perf_counter()
    remaining = total - agent.num_timesteps
    agent.learn(total_timesteps=remaining, callback=Checkpoint(), reset_num_timesteps=not ckpts, progress_bar=False)
    seconds = time.perf_counter() - t0
    save_agent(final, agent, with_optimizer=True)
    steps = agent.num_timesteps - start_steps
    stats = {
        "env_steps": agent.num_timesteps,
        "steps_this_run": steps,
        "wall_seconds_this_run": seconds,
        "wall_seconds_per_million_steps": seconds / max(steps, 1) * 1e6,
        "num_envs": env.num_envs,
        "device": device,
        "threads": args.threads,
    }
    atomic_write_json(out / "train.json", stats)
    print(f"trained {steps} steps in {seconds:.0f} s ({stats['wall_seconds_per_million_steps'] / 3600:.2f} h per 1M)")
    return stats


def evaluate_all(args: argparse.Namespace, world: str, out: Path) -> dict:
    """Every available policy on the same real episodes; the table as markdown and JSON."""
    from worldsim.errors import CheckpointError
    from worldsim.policies.base import available_policies
    from worldsim.rl.agent_file import load_agent_file
    from worldsim.rl.evaluate import CodecFiltered, PolicyActor, RandomActor, evaluate, normalised_score
    from worldsim.rl.sb3 import FrameStackAgent

    seeds = list(range(args.eval_seed, args.eval_seed + args.eval_episodes))
    modes = [m.strip() for m in args.eval_modes.split(",") if m.strip()]
    # label -> (actor, trained in, action mode)
    actors: dict[str, tuple] = {"random": (RandomActor(), None, None, 0)}
    if "scripted" in available_policies(world):
        actors["scripted"] = (PolicyActor("scripted", world), None, None, 0)
    budgets = {sub: _budget(out / sub) for sub in ("model", "real")}
    for sub, title in (("model", MODEL_LABEL), ("real", REAL_LABEL)):
        chosen = getattr(args, f"{sub}_agent")
        paths = [Path(c) for c in chosen] if chosen else [out / sub / "agent.safetensors"]
        for path in paths:
            if not path.exists():
                if chosen:
                    raise CheckpointError(f"{path}: agent not found; pass an agent file written by this script")
                continue
            agent = load_agent_file(path, trust_pickle=args.trust_pickle)
            steps = int(agent.num_timesteps)
            name = f"{title}, {steps:,} steps" if len(paths) > 1 else title
            for mode in modes:
                actor = FrameStackAgent(agent, args.frame_stack, deterministic=mode == "greedy")
                actors[f"{name} ({mode})"] = (actor, sub, mode, steps)
                if sub == "model" and args.codec_filter:
                    actors[f"{CODEC_LABEL} ({mode})"] = (CodecFiltered(actor, args.world), sub, mode, steps)
    options = {"max_episode_steps": args.eval_max_steps} if args.eval_max_steps else {}
    rows: dict[str, dict] = {}
    for label, (actor, sub, mode, steps) in actors.items():
        rows[label] = evaluate(actor, world, seeds, name=label, **options).to_dict()
        rows[label].update(trained_in=sub, actions=mode, env_steps=steps)
        print(f"{label:60s} {rows[label]['mean']:8.1f} +- {rows[label]['std']:.1f}", flush=True)
    rand = rows["random"]["mean"]
    scripted = rows.get("scripted", {}).get("mean", float("nan"))
    for row in rows.values():  # each agent against the (last) real-trained agent acting the same way
        same = [r for r in rows.values() if r["trained_in"] == "real" and r["actions"] == (row["actions"] or modes[0])]
        real = same[-1]["mean"] if same else float("nan")
        row["normalised"] = normalised_score(row["mean"], rand, real)
        row["normalised_vs_scripted"] = normalised_score(row["mean"], rand, scripted)
    results = {"world": args.world, "real_world": world, "seeds": seeds, "rows": rows, "budgets": budgets}
    atomic_write_json(out / "results.json", results)
    table = _markdown(rows, budgets, world, len(seeds), args.real_steps)
    atomic_write_bytes(out / "results.md", table.encode())
    print(table)
    return results


def _budget(run: Path) -> dict:
    f = run / "train.json"
    return json.loads(f.read_text()) if f.exists() else {}


def _markdown(rows: dict, budgets: dict, world: str, episodes: int, real_steps: int) -> str:
    from worldsim.eval.report import fmt_number

    lines = [
        f"Real {world}, {episodes} episodes (the same seeds for every policy); mean +- std of the episode return.",
        "",
        "| policy | env steps | return | normalised (vs real-trained) | normalised (vs scripted) |",
        "|---|---|---|---|---|",
    ]
    for label, row in rows.items():
        sub = row["trained_in"]
        steps = f"{row['env_steps']:,} ({sub})" if sub else "-"
        lines.append(
            f"| {label} | {steps} | {row['mean']:.1f} +- {row['std']:.1f} | {fmt_number(row['normalised'], 2)} "
            f"| {fmt_number(row['normalised_vs_scripted'], 2)} |"
        )
    if not any(row["trained_in"] == "real" for row in rows.values()):
        why = "not run (--real-steps 0)" if not real_steps else "not finished"
        lines.append(f"| {REAL_LABEL} | N/A | {why}: budget | - | - |")
    return "\n".join(lines) + "\n"


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    import torch

    from worldsim.assets import source_world
    from worldsim.errors import Error
    from worldsim.rl.sb3 import require_sb3

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        require_sb3()
        world = args.real_world or source_world(args.world)
        if args.stage in ("all", "model"):
            env = model_env(args)
            train(args, env, out / "model", args.steps)
            env.close()
        if args.stage in ("all", "real") and args.real_steps > 0:
            env = real_env(args, world)
            train(args, env, out / "real", args.real_steps)
            env.close()
        if args.stage in ("all", "eval"):
            evaluate_all(args, world, out)
    except Error as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
