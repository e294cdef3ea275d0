"""Scoring policies in the real simulator of a world (``WorldSimReal-v0``), with fixed seeds, and inside the world.

An *actor* is anything with ``reset(env, seed)`` and ``act(obs) -> int``: the uniform random policy, a scripted
driver that reads the simulator's privileged state, or an agent trained inside the learned world.
:func:`imagined_returns` says what a policy that does nothing, or acts at random, is paid inside the learned world:
a world that pays them as much as a trained agent earns there pays for something the game does not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from worldsim.sampling.display import Display

log = logging.getLogger(__name__)


class Actor(Protocol):
    """Chooses actions from frames, one episode at a time."""

    def reset(self, env: Any, seed: int) -> None:
        """Start an episode in ``env`` (already reset with ``seed``)."""

    def act(self, obs: np.ndarray) -> int:
        """The action id for frame ``obs``."""


class RandomActor:
    """Uniformly random actions (the floor of the normalised score)."""

    def reset(self, env: Any, seed: int) -> None:
        """Seed the draws from the episode seed."""
        self.n = int(env.action_space.n)
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> int:
        """A uniformly random action id."""
        return int(self.rng.integers(self.n))


class PolicyActor:
    """A data-collection policy of :mod:`policies` (e.g. ``scripted``), which may read the real simulator's state."""

    def __init__(self, name: str, world: str) -> None:
        from worldsim.policies.base import make_policy

        self.policy = make_policy(name, world)

    def reset(self, env: Any, seed: int) -> None:
        """Hand the policy the underlying :class:`~worldsim.sources.base.World`."""
        self.policy.reset(env.unwrapped.world, np.random.default_rng(seed))

    def act(self, obs: np.ndarray) -> int:
        """The policy's action."""
        return int(self.policy.act(obs))


class CodecFiltered:
    """Show an actor real frames passed through a world's codec (encode, then decode).

    An agent trained inside a learned world only ever saw decoded frames, which are blurrier than real ones;
    this removes that part of the sim-to-real gap at evaluation time (the environment is still the real one).

    Args:
        actor: The actor to wrap.
        world: A shipped world name or checkpoint path whose codec to use.
    """

    def __init__(self, actor: Actor, world: str) -> None:
        from worldsim.assets import resolve_world
        from worldsim.world_model import WorldModel

        self.actor = actor
        self.model = WorldModel.load(resolve_world(world).world, "cpu")
        self._display: Display | None = None

    def reset(self, env: Any, seed: int) -> None:
        """Start the wrapped actor's episode."""
        self.actor.reset(env, seed)
        self._display = None

    def act(self, obs: np.ndarray) -> int:
        """The wrapped actor's action on the codec's reconstruction of ``obs``.

        Decoded after the previous reconstruction, as the world shows its frames (:mod:`worldsim.sampling.display`).
        """
        z = self.model.encode(obs[None])
        if self._display is None:
            self._display = Display(self.model, self.model.sampling.hold)
            self._display.start(self.model.decode(z).cpu().numpy(), z)
            shown = self._display.frames
        else:
            shown = self._display.show(z)
        return self.actor.act(shown[0])


@dataclass
class EvalResult:
    """Returns of one actor over the evaluation episodes."""

    name: str
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mean(self) -> float:
        """Mean episode return."""
        return float(np.mean(self.returns)) if self.returns else float("nan")

    @property
    def std(self) -> float:
        """Standard deviation of episode returns."""
        return float(np.std(self.returns)) if self.returns else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form with the summary statistics."""
        return {**asdict(self), "mean": self.mean, "std": self.std}


def evaluate(
    actor: Actor, world: str, seeds: Sequence[int], name: str = "", progress: bool = True, **options: Any
) -> EvalResult:
    """Run one real episode per seed of ``world`` (``WorldSimReal-v0``) with ``actor``.

    Args:
        actor: What chooses the actions.
        world: Source world name.
        seeds: One episode per seed (the same seeds for every actor make the comparison paired).
        name: Label of the result.
        progress: Show a tqdm bar over episodes.
        **options: World options (e.g. ``max_episode_steps``).
    """
    from worldsim.envs.real import RealWorldEnv

    env = RealWorldEnv(world, **options)
    result = EvalResult(name or type(actor).__name__)
    t0 = time.perf_counter()
    try:
        for seed in tqdm(seeds, desc=f"eval {result.name}", disable=not progress, leave=False):
            obs, _ = env.reset(seed=int(seed))
            actor.reset(env, int(seed))
            total, steps, done = 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(actor.act(obs))
                total, steps, done = total + reward, steps + 1, terminated or truncated
            result.returns.append(total)
            result.lengths.append(steps)
    finally:
        env.close()
    result.seconds = time.perf_counter() - t0
    log.info("%s on real %s: %.1f +- %.1f over %d episodes", result.name, world, result.mean, result.std, len(seeds))
    return result


#: Policies :func:`imagined_returns` knows: every world's action 0 is ``noop``.
IMAGINED_POLICIES = ("noop", "random")


def imagined_returns(
    world: str, policy: str, num_envs: int = 16, episode_steps: int = 200, seed: int = 0, device: str = "auto"
) -> list[float]:
    """Returns of the first imagined episode of each of ``num_envs`` streams of ``WorldSim-v0`` under ``policy``.

    The episodes are the ones PPO trains on (start states, ``episode_steps`` steps unless the termination head ends
    them first, the world's shipped sampling), so the numbers compare with its ``rollout/ep_rew_mean``.

    Args:
        world: Shipped world name or world file.
        policy: ``noop`` (the world's ``noop`` action at every step) or ``random`` (uniform, seeded).
        num_envs: Streams, one batched model call per step.
        episode_steps: Imagined episode length.
        seed: Seed of the start states and of the random actions.
        device: ``auto``, ``cpu`` or ``cuda``.
    """
    import gymnasium as gym

    import worldsim  # noqa: F401 - registers WorldSim-v0
    from worldsim.errors import ConfigError

    if policy not in IMAGINED_POLICIES:
        raise ConfigError(f"imagined policy must be one of {', '.join(IMAGINED_POLICIES)}, not {policy!r}")
    env = gym.make_vec(
        "WorldSim-v0", num_envs=num_envs, world=world, device=device, max_episode_steps=episode_steps,
        autoreset_mode="SameStep",
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    try:
        names = env.unwrapped.action_names
        noop, n = (names.index("noop") if "noop" in names else 0), int(env.single_action_space.n)
        env.reset(seed=seed)
        total, done = np.zeros(num_envs), np.zeros(num_envs, bool)
        returns: list[float | None] = [None] * num_envs
        for _ in range(episode_steps):
            actions = rng.integers(n, size=num_envs) if policy == "random" else np.full(num_envs, noop)
            _, reward, terminated, truncated, _ = env.step(actions)
            total += np.where(done, 0.0, reward)
            for i in np.flatnonzero((terminated | truncated) & ~done):
                returns[i] = float(total[i])
            done |= terminated | truncated
            if done.all():
                break
    finally:
        env.close()
    return [r if r is not None else float(t) for r, t in zip(returns, total, strict=True)]


def normalised_score(agent: float, random: float, reference: float) -> float:
    """``(agent - random) / (reference - random)``: 0 is random, 1 the reference (e.g. PPO trained in the real env).

    Undefined (NaN) when the reference does not beat random: the ratio would flip sign or explode.
    """
    if not np.isfinite(reference) or reference <= random:
        return float("nan")
    return float((agent - random) / (reference - random))
