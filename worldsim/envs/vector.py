"""``gym.make_vec("WorldSim-v0", num_envs=N)``: every stream of a learned world in one batched model call."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from worldsim.envs.learned import Streams, env_config
from worldsim.errors import ConfigError, unknown_name

#: Most streams one vector env holds (each keeps a KV cache; 65,536 of the shipped worlds' already need ~20 GB).
MAX_ENVS = 65_536


class WorldSimVectorEnv(VectorEnv):
    """``num_envs`` streams of a learned world advanced by one batched model call per step.

    ``gym.make_vec("WorldSim-v0", num_envs=N, ...)`` builds it (the registered ``vector_entry_point``); the
    model is loaded once for all streams. Autoreset follows ``autoreset_mode`` (``NEXT_STEP`` by default, as
    in Gymnasium's own vector envs; ``SAME_STEP`` puts ``final_obs``/``final_info`` in the info; ``DISABLED``
    expects ``reset(options={"reset_mask": mask})``). A finished stream is restarted alone: the others keep
    their context. Infos are arrays over streams: ``term_prob``, ``accepted``, ``model_ms``, ``decode_ms``
    (the batch's time, on every stream).

    >>> import gymnasium as gym, worldsim
    >>> envs = gym.make_vec("WorldSim-v0", num_envs=4, world="carracing", device="cpu")
    >>> obs, info = envs.reset(seed=0)
    >>> obs.shape, envs.action_space
    ((4, 64, 64, 3), MultiDiscrete([7 7 7 7]))
    >>> obs, rewards, terminated, truncated, info = envs.step([3, 3, 1, 2])
    >>> rewards.shape, info["term_prob"].shape
    ((4,), (4,))
    >>> envs.close()
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        render_mode: str | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        max_episode_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Load the world once for ``num_envs`` streams; other keyword arguments are :class:`EnvConfig` fields."""
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or not 1 <= num_envs <= MAX_ENVS:
            raise ConfigError(f"num_envs={num_envs!r} must be a whole number from 1 to {MAX_ENVS}")
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"render_mode={render_mode!r}; the vector env supports 'rgb_array' or None")
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            raise unknown_name("autoreset_mode", str(autoreset_mode), [m.value for m in AutoresetMode]) from None
        self.config = env_config({**kwargs, "max_episode_steps": max_episode_steps})
        self.num_envs = int(num_envs)
        self._streams = Streams(self.config, self.num_envs)
        self.sim = self._streams.sim
        self.single_observation_space = self._streams.observation_space
        self.single_action_space = self._streams.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**self.metadata, "render_fps": self.sim.world.fps, "autoreset_mode": mode}
        self.render_mode = render_mode
        self.autoreset_mode = mode
        self._frames: np.ndarray | None = None
        self._prev_done = np.zeros(self.num_envs, dtype=bool)

    @property
    def action_names(self) -> list[str]:
        """Names of the actions, by id."""
        return self.sim.schema.names

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        """Reset every stream (or those in ``options["reset_mask"]``) from start windows chosen by ``seed``."""
        if isinstance(seed, (list, tuple)):  # one seed per stream, as SyncVectorEnv takes: combine them into one
            seed = int(np.random.SeedSequence([int(s) for s in seed]).generate_state(1)[0])
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        idx = np.arange(self.num_envs) if mask is None else np.flatnonzero(np.asarray(mask, dtype=bool))
        if mask is not None and np.asarray(mask).shape != (self.num_envs,):
            raise ConfigError(f"reset_mask must be a bool array of shape ({self.num_envs},)")
        if self._frames is None and len(idx) < self.num_envs:
            raise RuntimeError("the first reset() must reset every stream (no reset_mask)")
        if seed is not None or self._frames is None:
            self.sim.seed(int(self.np_random.integers(2**63 - 1)))
        self._restart(idx, options)
        return self._frames.copy(), {}

    def step(self, actions: Any):
        """Advance every stream by one frame in one batched model call."""
        if self._frames is None:
            raise RuntimeError("call reset() before step()")
        ids = self._streams.check_actions(actions, self.num_envs)
        if self.autoreset_mode == AutoresetMode.DISABLED and self._prev_done.any():
            raise RuntimeError(
                f"streams {np.flatnonzero(self._prev_done).tolist()} ended; with autoreset_mode=Disabled "
                "call reset(options={'reset_mask': mask}) first"
            )
        out = self.sim.step(ids)
        self._frames = out.frames
        self._streams.elapsed += 1
        rewards = out.reward.astype(np.float64)
        terminated = out.term_prob > self.config.term_threshold
        truncated = self._streams.truncated() & ~terminated
        infos: dict[str, Any] = {
            "term_prob": out.term_prob.astype(np.float64),
            "accepted": np.full(self.num_envs, out.accepted),
            "model_ms": np.full(self.num_envs, out.model_ms),
            "decode_ms": np.full(self.num_envs, out.decode_ms),
        }
        infos.update({f"_{k}": np.ones(self.num_envs, dtype=bool) for k in list(infos)})
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            # Streams that ended last step start over now; their step output above is discarded.
            done = np.flatnonzero(self._prev_done)
            if len(done):
                self._restart(done, {})
                rewards[done], terminated[done], truncated[done] = 0.0, False, False
        elif self.autoreset_mode == AutoresetMode.SAME_STEP:
            done = np.flatnonzero(terminated | truncated)
            for i in done:
                one = {"term_prob": infos["term_prob"][i], "accepted": bool(out.accepted)}
                infos = self._add_info(infos, {"final_obs": self._frames[i].copy(), "final_info": one}, int(i))
            if len(done):
                self._restart(done, {})
        self._prev_done = terminated | truncated
        return self._frames.copy(), rewards, terminated, truncated, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        """The current frame of every stream (``rgb_array``)."""
        if self.render_mode != "rgb_array" or self._frames is None:
            return None
        return tuple(self._frames.copy())

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release beyond the model (freed with the env)."""

    def _restart(self, idx: np.ndarray, options: dict[str, Any]) -> None:
        """Start streams ``idx`` from start windows (or ``options``), leaving the others untouched."""
        frames, actions = self._streams.context(self.np_random, options, len(idx))
        streams = None if len(idx) == self.num_envs else idx
        self._frames = self.sim.reset(frames, actions, streams)
        self._streams.elapsed[idx] = 0
        self._prev_done[idx] = False
