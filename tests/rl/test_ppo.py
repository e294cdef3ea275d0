"""PPO trained only inside a (tiny, toy) world model learns: its return beats the random policy's."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import worldsim  # noqa: F401 - registers WorldSim-v0
from worldsim.rl.ppo import PPOConfig, train_ppo


def _mean_step_reward(envs, act, seed: int, steps: int = 24) -> float:
    obs, _ = envs.reset(seed=seed)
    total = 0.0
    for _ in range(steps):
        obs, reward, *_ = envs.step(act(obs))
        total += float(np.mean(reward))
    return total / steps


@pytest.fixture
def one_thread():
    """One torch thread: a bit-reproducible run (and fair to the rest of a shared CI machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_ppo_inside_the_model_beats_random(tiny_world, one_thread):
    envs = gym.make_vec(
        "WorldSim-v0",
        num_envs=8,
        world=str(tiny_world),
        device="cpu",
        sampling={"steps": 1},
        max_episode_steps=32,
        autoreset_mode="SameStep",
    )
    rng = np.random.default_rng(0)
    random_scores = [_mean_step_reward(envs, lambda obs: rng.integers(5, size=len(obs)), seed=s) for s in (1, 2)]

    agent, stats = train_ppo(envs, PPOConfig(total_steps=2048, num_steps=16, lr=1e-3, seed=0), progress=False)

    trained_score = _mean_step_reward(envs, agent.act, seed=1)
    curve = stats["mean_step_reward"]
    assert stats["env_steps"] == 2048 and len(curve) == 16
    assert np.mean(curve[-4:]) > np.mean(curve[:4])  # the learning curve goes up...
    # ...and the greedy agent beats random by much more than random varies between seeds
    assert trained_score > max(random_scores) + 3 * abs(random_scores[0] - random_scores[1])
    print(f"random {random_scores}, trained {trained_score:.3f}, curve {np.round(curve, 3)}")
