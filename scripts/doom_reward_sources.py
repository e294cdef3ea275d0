#!/usr/bin/env python
"""Where a Doom dataset's rewards come from: was the monster that died on screen, had the player just fired?

For every rewarded step of a dataset recorded with VizDoom's labels (``worldsim collect doom``), it checks whether a
``Monster`` label is in the frame before or after the step and whether the player pressed ``attack`` in the last
``--window`` steps. With ``--episodes N`` it also plays N episodes of the data's random policy and tells which game
variables changed on each rewarded step (in ``deathmatch``: ``KILLCOUNT``, so every reward is a kill).

    python scripts/doom_reward_sources.py data/doom --episodes 12
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worldsim.data.dataset import Dataset  # noqa: E402
from worldsim.sources.doom import LABEL_KINDS  # noqa: E402

MONSTER = LABEL_KINDS.index("Monster")


def reward_sources(data: str, window: int = 8) -> dict:
    """Counts of rewarded steps with a monster on screen, after a shot, both; reward values; steps since a shot."""
    ds = Dataset(data)
    if ds.schema.world != "doom" or "attack" not in ds.schema.names:
        raise SystemExit(f"{data}: not a doom dataset with an `attack` action; record one with `worldsim collect doom`")
    attack = ds.schema.names.index("attack")
    out = {"steps": 0, "rewarded": 0, "values": Counter(), "monster_on_screen": 0, "after_a_shot": 0, "both": 0}
    since: list[int] = []
    for e in range(len(ds.episodes)):
        ep = ds.episode(e)
        labels = ep.labels
        if labels is None:
            raise SystemExit(f"{data}: no VizDoom labels recorded; collect it again with labels on (the default)")
        rewards, actions, labels = np.asarray(ep.rewards), np.asarray(ep.actions), np.asarray(labels)
        out["steps"] += len(rewards)
        last_shot = -(10**9)
        for i, r in enumerate(rewards):
            if actions[i] == attack:
                last_shot = i
            if r == 0:
                continue
            seen = bool((labels[i][:, 0] == MONSTER).any() or (labels[i + 1][:, 0] == MONSTER).any())
            shot = i - last_shot < window
            out["rewarded"] += 1
            out["values"][float(r)] += 1
            out["monster_on_screen"] += seen
            out["after_a_shot"] += shot
            out["both"] += seen and shot
            since.append(i - last_shot)
    out["values"] = dict(out["values"])
    out["median_steps_since_a_shot"] = float(np.median(since)) if since else None
    return out


def reward_variables(episodes: int, seed: int = 1000) -> dict[str, int]:
    """Which game variables changed on rewarded steps of ``episodes`` random-policy episodes (seeds from ``seed``)."""
    import vizdoom as vzd

    from worldsim.policies.random_persistent import RandomPersistentPolicy
    from worldsim.sources.doom import DoomWorld

    names = ("KILLCOUNT", "ITEMCOUNT", "HEALTH", "ARMOR", "AMMO2", "AMMO3", "FRAGCOUNT", "SECRETCOUNT")
    variables = [getattr(vzd.GameVariable, n) for n in names]
    world = DoomWorld()
    game = world.unwrapped
    changed: Counter = Counter()
    policy = RandomPersistentPolicy()
    try:
        for k in range(episodes):
            frame = world.reset(seed=seed + k)
            policy.reset(world, np.random.default_rng(seed + k))
            before = [game.get_game_variable(v) for v in variables]
            done = False
            while not done:
                frame, r, terminated, truncated, _ = world.step(policy.act(frame))
                now = [game.get_game_variable(v) for v in variables]
                if r != 0:
                    changed["+".join(n for n, a, b in zip(names, before, now, strict=True) if a != b) or "none"] += 1
                before, done = now, terminated or truncated
    finally:
        world.close()
    return dict(changed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="a doom dataset with VizDoom labels")
    p.add_argument("--window", type=int, default=8, help="steps after a shot that count as 'after a shot'")
    p.add_argument("--episodes", type=int, default=0, help="also play this many episodes to check the reward's source")
    args = p.parse_args(argv)
    result = {"data": args.data, **reward_sources(args.data, args.window)}
    if args.episodes:
        result["variables_changed_on_rewarded_steps"] = reward_variables(args.episodes)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
