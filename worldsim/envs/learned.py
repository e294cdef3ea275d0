"""``WorldSim-v0``: a learned world as a Gymnasium environment (one stream, or a native batched vector env).

This module holds the single environment, :class:`WorldSimEnv`, and what it shares with the native vector env
(:class:`~worldsim.envs.vector.WorldSimVectorEnv`, which runs all ``num_envs`` streams in one batched model call):
the settings and the per-stream bookkeeping. Both drive a :class:`~worldsim.sampling.simulator.Simulator`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from worldsim.config import from_dict
from worldsim.envs.render import Window
from worldsim.errors import ConfigError, InvalidAction, unknown_name

log = logging.getLogger(__name__)

#: Backends the env accepts (see :mod:`worldsim.sampling.backends`).
ENV_BACKENDS = ("auto", "eager", "compile", "onnx", "tensorrt")
#: Fields of :class:`~worldsim.sampling.config.SamplingConfig` (restated to keep torch out of the import; tested).
SAMPLING_KEYS = ("steps", "context_noise", "guidance", "hold")
#: Frames speculated ahead when ``speculative=True``.
DEFAULT_LOOKAHEAD = 2


@dataclass(frozen=True)
class EnvConfig:
    """Settings of a WorldSim environment (the keyword arguments of ``gym.make("WorldSim-v0", ...)``).

    Attributes:
        world: A shipped world name (``worldsim worlds``) or a checkpoint path (None: the default world).
        device: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:i]``.
        sampling: Overrides of the world's sampling recipe, e.g. ``{"steps": 2, "guidance": {"scale": 1}}`` (empty:
            the world's; see :func:`~worldsim.sampling.config.resolve_sampling`).
        speculative: Frames generated ahead assuming the action is held (0 or False: off; True: 2).
        backend: Execution backend; ``eager`` keeps the bit-identical determinism contract on CPU.
        term_threshold: An episode terminates when the predicted termination probability exceeds this.
        max_episode_steps: Truncate episodes after this many steps (None: never, or ``gym.make``'s ``TimeLimit``).
        cache_dir: Where exported ONNX/TensorRT programs are kept for reuse.
        threads: CPU threads for generation (None: :func:`worldsim.runtime.compute_threads`, 1 unless
            ``WORLDSIM_THREADS`` says otherwise; the caller's torch thread count is restored after every call).
        precision: ``auto`` (bf16 for 8 or more streams on a CPU with AMX-BF16 or AVX512-BF16), ``fp32`` or ``bf16``.
    """

    world: str | None = None
    device: str = "auto"
    sampling: dict[str, Any] | None = None
    speculative: int = 0
    backend: str = "eager"
    term_threshold: float = 0.5
    max_episode_steps: int | None = None
    cache_dir: str | None = None
    threads: int | None = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.speculative, bool):
            object.__setattr__(self, "speculative", DEFAULT_LOOKAHEAD if self.speculative else 0)
        if self.backend not in ENV_BACKENDS:
            raise unknown_name("backend", str(self.backend), ENV_BACKENDS)
        if int(self.speculative) < 0:
            raise ConfigError(f"speculative={self.speculative}: frames ahead must be >= 0 (0 turns speculation off)")
        if not 0.0 < self.term_threshold <= 1.0:
            raise ConfigError(f"term_threshold={self.term_threshold} must be in (0, 1]; 1.0 never terminates")
        if self.max_episode_steps is not None and int(self.max_episode_steps) < 1:
            raise ConfigError(f"max_episode_steps={self.max_episode_steps} must be >= 1 (or None)")

    def load(self, num_streams: int):
        """Load the world into a :class:`~worldsim.sampling.simulator.Simulator` of ``num_streams`` streams (once)."""
        from worldsim.sampling.simulator import Simulator  # torch loads with the first env, not with `import worldsim`

        world = str(self.world) if isinstance(self.world, Path) else self.world
        sim = Simulator.load(
            world,
            num_streams=num_streams,
            device=self.device,
            sampling=self.sampling,
            backend=self.backend,
            cache_dir=self.cache_dir,
            threads=self.threads,
            precision=self.precision,
        )
        if self.speculative:
            limit = sim.world.dynamics.cfg.max_lookahead
            if int(self.speculative) > limit:
                raise ConfigError(f"speculative={self.speculative}: world {sim.name!r} allows at most {limit} frames")
            sim.lookahead = int(self.speculative)
        if sim.starts is None:
            log.warning("world %r has no start states: reset() needs options={'frames': ...}", sim.name)
        return sim


@dataclass(frozen=True, eq=False)
class StepTiming:
    """Wall-clock cost of one step (``info["timing"]``).

    Timings are measurements, not part of the simulated transition, so any two compare equal: a seeded
    determinism check (``check_env``) compares the world, not the clock.

    Attributes:
        model_ms: Milliseconds in the dynamics model (denoising and commit).
        decode_ms: Milliseconds decoding latents to frames.
    """

    model_ms: float
    decode_ms: float

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StepTiming)

    def __hash__(self) -> int:
        return hash(StepTiming)


class Streams:
    """What both envs share: the simulator, spaces, start selection and per-stream episode bookkeeping."""

    def __init__(self, config: EnvConfig, num_streams: int) -> None:
        self.config = config
        self.sim = config.load(num_streams)
        h, w = self.sim.resolution
        self.observation_space = spaces.Box(0, 255, (h, w, 3), np.uint8)
        self.action_space = spaces.Discrete(len(self.sim.schema))
        self.elapsed = np.zeros(num_streams, dtype=np.int64)

    def context(self, rng: np.random.Generator, options: dict[str, Any] | None, count: int):
        """Context frames ``(count, F, H, W, 3)`` and actions ``(count, F)`` from ``options`` or the start states."""
        options = dict(options or {})
        unknown_keys = set(options) - {"frames", "actions", "start", "reset_mask"}
        if unknown_keys:
            raise ConfigError(
                f"unknown reset option(s) {sorted(unknown_keys)}; "
                "valid: frames, actions, start (vector env: reset_mask)"
            )
        if "frames" in options:
            return self._explicit(options["frames"], options.get("actions"), count)
        starts = self.sim.starts
        if starts is None:
            raise ConfigError(
                f"world {self.sim.name!r} has no start states (starts.safetensors beside the checkpoint); "
                "pass reset(options={'frames': uint8 (F, H, W, 3)})"
            )
        if "start" in options:
            picks = np.broadcast_to(np.asarray(options["start"], dtype=np.int64), (count,))
            if picks.min() < 0 or picks.max() >= len(starts):
                raise ConfigError(f"start={options['start']}: world {self.sim.name!r} has starts 0..{len(starts) - 1}")
        else:
            picks = rng.integers(len(starts), size=count)
        return starts.frames[picks], starts.actions[picks]

    def _explicit(self, frames: Any, actions: Any, count: int) -> tuple[np.ndarray, np.ndarray | None]:
        h, w = self.sim.resolution
        frames = np.asarray(frames)
        want = (h, w, 3)
        if frames.ndim == 4 and count == 1:
            frames = frames[None]
        if frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[0] != count or frames.shape[2:] != want:
            shape = f"(F, {h}, {w}, 3)" if count == 1 else f"({count}, F, {h}, {w}, 3)"
            raise ConfigError(f"reset option 'frames' must be uint8 {shape}, got {frames.dtype} {frames.shape}")
        if actions is None:
            return frames, None
        actions = np.asarray(actions, dtype=np.int64).reshape(frames.shape[:2])
        n = len(self.sim.schema)
        if actions.min() < 0 or actions.max() > n:
            raise InvalidAction(f"reset option 'actions' must be ids 0..{n - 1} (or {n} for unknown), got {actions}")
        return frames, actions

    def check_actions(self, actions: Any, count: int) -> np.ndarray:
        """``(count,)`` int64 action ids; anything outside the action space raises :class:`InvalidAction`."""
        arr = np.asarray(actions)
        if arr.shape not in ((count,), ()) or not np.issubdtype(arr.dtype, np.integer):
            if count == 1 and arr.size == 1 and np.issubdtype(arr.dtype, np.integer):
                arr = arr.reshape(())
            else:
                raise InvalidAction(
                    f"expected {'one integer action' if count == 1 else f'{count} integer actions'}, got {actions!r}; "
                    f"valid ids: {self._valid_ids()}"
                )
        ids = np.broadcast_to(arr, (count,)).astype(np.int64)
        bad = (ids < 0) | (ids >= len(self.sim.schema))
        if bad.any():
            n = len(self.sim.schema)
            raise InvalidAction(f"action {int(ids[bad][0])} is outside Discrete({n}): {self._valid_ids()}")
        return ids

    def _valid_ids(self) -> str:
        return "valid ids are " + ", ".join(f"{i}={n}" for i, n in enumerate(self.sim.schema.names))

    def truncated(self) -> np.ndarray:
        """Which streams reached ``max_episode_steps``."""
        limit = self.config.max_episode_steps
        return self.elapsed >= limit if limit else np.zeros_like(self.elapsed, dtype=bool)


class WorldSimEnv(gym.Env[np.ndarray, np.int64]):
    """A learned world as an environment: the model generates every frame, reward and episode end.

    ## Description

    A WorldSim world is an action-conditioned next-frame diffusion model trained on recorded frames and
    actions of a real simulator (CarRacing, VizDoom, ...). This environment *is* that model: each step denoises
    the next frame given the past frames and the action, and the model's heads predict the reward and whether
    the episode ended. Swap a real environment for its learned twin with one line::

        env = gym.make("WorldSimReal-v0", world="carracing")   # the real CarRacing-v3, 64x64, 7 actions
        env = gym.make("WorldSim-v0", world="carracing")       # the learned CarRacing

    ## Action Space

    ``Discrete(n)``: the world's action schema (``worldsim worlds``; e.g. carracing has 7 actions
    noop, left, right, gas, brake, gas_left, gas_right). ``env.unwrapped.action_names`` lists them.

    ## Observation Space

    ``Box(0, 255, (H, W, 3), uint8)``: the generated RGB frame at the world's resolution (64x64 for the
    shipped worlds).

    ## Rewards

    The model's reward head, read on each committed frame (a learned estimate of the real reward).

    ## Starting State

    ``reset(seed=s)`` picks one of the real start windows shipped with the world (a few hundred per world)
    with ``env.np_random`` and seeds all diffusion noise from it. ``options`` may pass
    ``{"start": index}`` or explicit context ``{"frames": uint8 (F, H, W, 3), "actions": (F,)}``; an action id
    of ``n`` means "unknown" (the first frame of an episode).

    ## Episode End

    Terminated when the predicted termination probability exceeds ``term_threshold`` (0.5); truncated at
    ``max_episode_steps`` (``gym.make`` applies its ``TimeLimit``, 1000 by default).

    ## Info

    ``term_prob`` (predicted termination probability), ``accepted`` (the frame came from the speculative
    buffer), ``timing`` (:class:`StepTiming`: ``model_ms``, ``decode_ms``).

    ## Arguments

    ``world`` (shipped name or checkpoint path), ``device`` ("auto"), ``sampling`` (overrides of the world's
    sampling recipe, e.g. ``{"steps": 2}``), ``speculative`` (frames ahead, 0 = off), ``backend`` ("eager";
    "auto" picks ONNX Runtime on CPU), ``term_threshold``, ``max_episode_steps``, ``cache_dir``, ``render_mode``
    ("rgb_array" or "human": an upscaled pygame window). See :class:`EnvConfig`.

    ## Determinism

    On CPU with the eager backend the same seed and the same actions give bit-identical observations.

    >>> import gymnasium as gym, worldsim
    >>> env = gym.make("WorldSim-v0", world="carracing", device="cpu")
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype, env.action_space
    ((64, 64, 3), dtype('uint8'), Discrete(7))
    >>> obs, reward, terminated, truncated, info = env.step(3)  # gas
    >>> sorted(info)
    ['accepted', 'term_prob', 'timing']
    >>> again, _ = env.reset(seed=0)
    >>> bool((env.step(3)[0] == obs).all())
    True
    >>> env.close()

    ## Version History

    * v0: Initial version.
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 25}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        """Load the world once; keyword arguments are the fields of :class:`EnvConfig`."""
        self.config = env_config(kwargs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"render_mode={render_mode!r}; use one of {self.metadata['render_modes']} or None")
        self._streams = Streams(self.config, 1)
        self.sim = self._streams.sim
        self.observation_space = self._streams.observation_space
        self.action_space = self._streams.action_space
        self.metadata = {**self.metadata, "render_fps": self.sim.world.fps}
        self.render_mode = render_mode
        self._frame: np.ndarray | None = None
        self._window: Window | None = None

    @property
    def action_names(self) -> list[str]:
        """Names of the actions, by id."""
        return self.sim.schema.names

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode from a real start window chosen by ``seed`` (or from ``options``)."""
        super().reset(seed=seed)
        frames, actions = self._streams.context(self.np_random, options, 1)
        self.sim.seed(int(self.np_random.integers(2**63 - 1)))
        self._frame = self.sim.reset(frames, actions)[0]
        self._streams.elapsed[:] = 0
        if self.render_mode == "human":
            self.render()
        return self._frame.copy(), {}

    def step(self, action: Any):
        """Generate the next frame for ``action``; reward and termination come from the model's heads."""
        if self._frame is None:
            raise RuntimeError("call reset() before step()")
        ids = self._streams.check_actions(action, 1)
        out = self.sim.step(ids)
        self._frame = out.frames[0]
        self._streams.elapsed += 1
        term_prob = float(out.term_prob[0])
        terminated = term_prob > self.config.term_threshold
        truncated = bool(self._streams.truncated()[0]) and not terminated
        info = {"term_prob": term_prob, "accepted": out.accepted, "timing": StepTiming(out.model_ms, out.decode_ms)}
        if self.render_mode == "human":
            self.render()
        return self._frame.copy(), float(out.reward[0]), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the current frame; ``human``: show it in a pygame window (upscaled)."""
        if self._frame is None:
            return None
        if self.render_mode == "rgb_array":
            return self._frame.copy()
        if self.render_mode == "human":
            if self._window is None:
                self._window = Window(f"WorldSim: {self.sim.name}", self.metadata["render_fps"])
            self._window.show(self._frame)
        return None

    def close(self) -> None:
        """Close the window (if any); safe to call twice."""
        if self._window is not None:
            self._window.close()
            self._window = None
        super().close()


def env_config(kwargs: dict[str, Any]) -> EnvConfig:
    """:class:`EnvConfig` from keyword arguments; an unknown one is a :class:`ConfigError` with a suggestion."""
    fields = EnvConfig.__dataclass_fields__
    for key in kwargs:
        if key in SAMPLING_KEYS:
            raise ConfigError(
                f"WorldSim-v0 argument {key!r} belongs to the sampling recipe: "
                f"pass sampling={{{key!r}: {kwargs[key]!r}}}"
            )
        if key not in fields:
            err = unknown_name("WorldSim-v0 argument", key, [*fields, "render_mode", "num_envs", "autoreset_mode"])
            raise ConfigError(str(err))
    values = dict(kwargs)
    if isinstance(values.get("world"), Path):
        values["world"] = str(values["world"])
    if isinstance(values.get("speculative"), bool):  # True: the default lookahead
        values["speculative"] = DEFAULT_LOOKAHEAD if values["speculative"] else 0
    return from_dict(EnvConfig, values, where="WorldSim-v0 arguments")  # types checked, one-line errors
