"""stable-baselines3 glue: a Gymnasium vector env (e.g. ``WorldSim-v0``'s batched one) as an SB3 ``VecEnv``.

SB3 predates Gymnasium 1.x vector envs; its ``VecEnv`` expects same-step autoreset with the last observation of
a finished episode in ``info["terminal_observation"]``. :class:`GymVectorToSB3` adapts a vector env created with
``autoreset_mode="SameStep"``, so all streams still run as one batched model call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldsim.errors import ConfigError, DependencyNotInstalled

try:
    from stable_baselines3.common.vec_env import VecEnv
except ImportError:  # the module stays importable; using it raises with the install command
    VecEnv = object  # type: ignore[assignment,misc]
    _SB3 = False
else:
    _SB3 = True

INSTALL = "pip install -e '.[rl]'  (stable-baselines3)"


def require_sb3() -> None:
    """Raise :class:`DependencyNotInstalled` with the install command when stable-baselines3 is missing."""
    if not _SB3:
        raise DependencyNotInstalled(f"this needs stable-baselines3: {INSTALL}")


class GymVectorToSB3(VecEnv):  # type: ignore[misc,valid-type]
    """An SB3 ``VecEnv`` over a Gymnasium ``VectorEnv`` whose ``autoreset_mode`` is ``SameStep``.

    Args:
        venv: The vector env, e.g. ``gym.make_vec("WorldSim-v0", num_envs=16, autoreset_mode="SameStep")``.
    """

    def __init__(self, venv: Any) -> None:
        require_sb3()
        from gymnasium.vector import AutoresetMode

        if venv.metadata.get("autoreset_mode") != AutoresetMode.SAME_STEP:
            raise ConfigError("GymVectorToSB3 needs a vector env made with autoreset_mode='SameStep'")
        self.venv = venv
        self.render_mode = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        """Reset every stream (with the seed given to :meth:`seed`, once)."""
        seed = self._seeds[0]
        obs, _ = self.venv.reset(seed=seed)
        self._reset_seeds()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions; :meth:`step_wait` runs the batched step."""
        self._actions = np.asarray(actions)

    def step_wait(self):
        """One batched step; finished streams are already restarted, their last frame in the info."""
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = info["final_obs"][i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        """Close the vector env."""
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """The attribute of the (shared) vector env, once per stream."""
        if attr_name == "render_mode":
            return [None] * len(self._get_indices(indices))
        return [getattr(self.venv, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set an attribute on the vector env."""
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        """Call a method of the vector env once."""
        return [getattr(self.venv, method_name)(*args, **kwargs)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        """No per-stream Gymnasium wrappers exist (SB3 checks for ``Monitor``)."""
        return [False] * len(self._get_indices(indices))


class FrameStackAgent:
    """Act with an SB3 model in a single env, stacking frames exactly as SB3's ``VecFrameStack`` did in training.

    Args:
        model: A trained SB3 algorithm, or an agent file loaded by :func:`worldsim.rl.agent_file.load_agent_file`.
        frame_stack: Frames stacked on the channel axis during training (1 = none).
        deterministic: Take the most likely action instead of sampling.
    """

    def __init__(self, model: Any, frame_stack: int = 1, deterministic: bool = False) -> None:
        self.model, self.k, self.deterministic = model, frame_stack, deterministic
        self.stack: np.ndarray | None = None

    def reset(self, env: Any, seed: int) -> None:
        """Start an episode: older frame slots are zeros, as after ``VecFrameStack.reset``."""
        self.stack = None
        self.model.set_random_seed(seed)

    def act(self, obs: np.ndarray) -> int:
        """Push ``obs`` onto the stack and return the model's action."""
        c = obs.shape[-1]
        if self.stack is None:
            self.stack = np.zeros((*obs.shape[:-1], c * self.k), dtype=obs.dtype)
        self.stack = np.roll(self.stack, -c, axis=-1)
        self.stack[..., -c:] = obs
        action, _ = self.model.predict(self.stack[None], deterministic=self.deterministic)
        return int(np.asarray(action).reshape(-1)[0])
