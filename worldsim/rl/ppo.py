"""A CleanRL-style minimal PPO over a Gymnasium vector env of image observations (no dependency beyond torch).

One file, one config, one loop: collect ``num_steps`` batched steps from all streams, compute GAE, run a few
epochs of clipped-objective minibatch updates. It is the loop shown in ``docs/rl.md`` and the one the CI test
trains inside a toy world model; for long runs use stable-baselines3 (``scripts/train_agent.py``).

>>> import gymnasium as gym, worldsim                                                # doctest: +SKIP
>>> envs = gym.make_vec("WorldSim-v0", num_envs=8, world="carracing", autoreset_mode="SameStep")  # doctest: +SKIP
>>> agent, stats = train_ppo(envs, PPOConfig(total_steps=20_000))                    # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical
from tqdm import tqdm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters (CleanRL's Atari defaults, scaled down).

    Attributes:
        total_steps: Env steps summed over all streams.
        num_steps: Steps per stream between updates.
        lr: Adam learning rate (annealed linearly to 0).
        gamma: Discount.
        gae_lambda: GAE lambda.
        minibatches: Minibatches per epoch.
        epochs: Passes over each batch.
        clip: Policy ratio clip.
        ent_coef: Entropy bonus.
        vf_coef: Value loss weight.
        max_grad_norm: Gradient clipping.
        seed: Seed of the env reset, the network and the action sampling.
    """

    total_steps: int = 100_000
    num_steps: int = 128
    lr: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    minibatches: int = 4
    epochs: int = 4
    clip: float = 0.1
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    seed: int = 0


class Agent(nn.Module):
    """A small CNN actor-critic on uint8 ``(H, W, 3)`` frames."""

    def __init__(self, obs_shape: tuple[int, ...], num_actions: int) -> None:
        super().__init__()
        c = obs_shape[-1]
        self.trunk = nn.Sequential(
            nn.Conv2d(c, 16, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(16, 32, 4, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n = self.trunk(torch.zeros(1, c, *obs_shape[:2])).shape[1]
        self.trunk.append(nn.Linear(n, 128))
        self.trunk.append(nn.ReLU())
        self.actor = nn.Linear(128, num_actions)
        self.critic = nn.Linear(128, 1)
        nn.init.orthogonal_(self.actor.weight, 0.01)  # near-uniform initial policy
        nn.init.zeros_(self.actor.bias)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, H, W, C)`` -> ``(B, 128)``."""
        return self.trunk(obs.permute(0, 3, 1, 2).float() / 255.0)

    def forward(self, obs: torch.Tensor, action: torch.Tensor | None = None):
        """Action (sampled unless given), its log-probability, the policy entropy and the value."""
        h = self.features(obs)
        dist = Categorical(logits=self.actor(h))
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.critic(h).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for a batch of frames ``(B, H, W, C)``."""
        h = self.features(torch.as_tensor(obs))
        logits = self.actor(h)
        return (logits.argmax(-1) if deterministic else Categorical(logits=logits).sample()).numpy()


def train_ppo(envs, cfg: PPOConfig = PPOConfig(), progress: bool = True) -> tuple[Agent, dict]:  # noqa: B008
    """Train an :class:`Agent` on a vector env created with ``autoreset_mode="SameStep"``.

    Returns the agent and stats: ``episode_returns`` (finished episodes, in order), ``mean_step_reward`` per
    update, ``env_seconds`` and ``wall_seconds``.
    """
    torch.manual_seed(cfg.seed)
    n, t_len = envs.num_envs, cfg.num_steps
    obs_shape = envs.single_observation_space.shape
    agent = Agent(obs_shape, int(envs.single_action_space.n))
    opt = torch.optim.Adam(agent.parameters(), lr=cfg.lr, eps=1e-5)
    obs_buf = torch.zeros((t_len, n, *obs_shape), dtype=torch.uint8)
    act_buf, logp_buf, rew_buf, done_buf, val_buf = (torch.zeros(t_len, n) for _ in range(5))
    updates = max(1, cfg.total_steps // (n * t_len))
    stats = {"episode_returns": [], "mean_step_reward": [], "env_seconds": 0.0}
    t0 = time.perf_counter()
    obs, _ = envs.reset(seed=cfg.seed)
    obs, done = torch.as_tensor(obs), torch.zeros(n)
    running = np.zeros(n)
    for update in tqdm(range(updates), desc="ppo", disable=not progress):
        opt.param_groups[0]["lr"] = cfg.lr * (1 - update / updates)
        for t in range(t_len):  # rollout: one batched env step per t
            obs_buf[t], done_buf[t] = obs, done
            with torch.no_grad():
                action, logp, _, value = agent(obs)
            act_buf[t], logp_buf[t], val_buf[t] = action, logp, value
            te = time.perf_counter()
            obs, reward, terminated, truncated, _ = envs.step(action.numpy())
            stats["env_seconds"] += time.perf_counter() - te
            finished = np.logical_or(terminated, truncated)
            running += reward
            stats["episode_returns"] += running[finished].tolist()
            running[finished] = 0.0
            rew_buf[t] = torch.as_tensor(reward, dtype=torch.float32)
            obs, done = torch.as_tensor(obs), torch.as_tensor(finished, dtype=torch.float32)
        stats["mean_step_reward"].append(float(rew_buf.mean()))
        with torch.no_grad():
            next_value = agent(obs)[3]
        adv = _gae(rew_buf, val_buf, done_buf, next_value, done, cfg.gamma, cfg.gae_lambda)
        _update(agent, opt, cfg, obs_buf, act_buf, logp_buf, adv, adv + val_buf)
    stats["wall_seconds"] = time.perf_counter() - t0
    stats["env_steps"] = updates * n * t_len
    return agent, stats


def _gae(rewards, values, dones, next_value, next_done, gamma: float, lam: float) -> torch.Tensor:
    """Generalised advantage estimates ``(T, N)``; ``dones[t]`` marks that ``obs[t]`` starts a new episode."""
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(len(rewards))):
        nonterminal = 1.0 - (next_done if t == len(rewards) - 1 else dones[t + 1])
        nxt = next_value if t == len(rewards) - 1 else values[t + 1]
        delta = rewards[t] + gamma * nxt * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv


def _update(agent: Agent, opt, cfg: PPOConfig, obs, actions, logps, adv, returns) -> None:
    """Clipped-objective PPO epochs over the flattened batch."""
    b_obs = obs.reshape(-1, *obs.shape[2:])
    b_act, b_logp, b_adv, b_ret = (x.reshape(-1) for x in (actions, logps, adv, returns))
    size = len(b_obs)
    mb = max(1, size // cfg.minibatches)
    for _ in range(cfg.epochs):
        for idx in torch.randperm(size).split(mb):
            _, logp, entropy, value = agent(b_obs[idx], b_act[idx].long())
            ratio = (logp - b_logp[idx]).exp()
            a = b_adv[idx]
            a = (a - a.mean()) / (a.std() + 1e-8)
            pg = torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean()
            loss = pg + cfg.vf_coef * 0.5 * (value - b_ret[idx]).pow(2).mean() - cfg.ent_coef * entropy.mean()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
            opt.step()
