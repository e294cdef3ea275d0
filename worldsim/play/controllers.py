"""Who chooses the action each frame: the human (keyboard/gamepad), a policy, a trained agent or a replay.

A controller sees a :class:`ControlInput` (the generated frame, the real simulator's frame when one runs
beside the learned world, and the action the held keys resolve to) and answers an action id, or None when
it has nothing left to play (a replay that ran out).

Policies from :mod:`worldsim.policies` that act on the frame alone (``random``, CarRacing's and Breakout's
``pilot``) act in the learned world directly. The scripted ones (``scripted``) steer by reading the real
simulator's internal state (track, car body, RAM), so in play they drive the real simulator shown side by side,
and the learned world follows the same actions. Agent files (``agent.safetensors`` from
``scripts/train_agent.py``; never unpickled) act on generated frames.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from worldsim.actions import ActionSchema
from worldsim.errors import CheckpointError, ConfigError, DatasetError
from worldsim.policies.base import LearnedWorld

log = logging.getLogger(__name__)


@dataclass
class ControlInput:
    """What a controller may look at to choose the next action.

    Attributes:
        frame: The current generated frame ``(H, W, 3)`` uint8.
        human_action: The action the held keys (and gamepad) resolve to.
        real_frame: The real simulator's current frame, when it runs side by side.
        real_world: The real simulator (a ``worldsim.sources.World``), for policies that read its state.
    """

    frame: np.ndarray
    human_action: int = 0
    real_frame: np.ndarray | None = None
    real_world: Any = None


@dataclass
class Replay:
    """A recorded action sequence, optionally with the real frames it was recorded with.

    Attributes:
        actions: Action ids, one per frame.
        label: Where it came from (shown in the HUD).
        context: ``(frames (F, H, W, 3), actions (F,))`` to reset the learned world from (a dataset episode).
        frames: The recorded frames after each action ``(T, H, W, 3)``, shown beside the generated ones.
    """

    actions: list[int]
    label: str
    context: tuple[np.ndarray, np.ndarray] | None = None
    frames: np.ndarray | None = None


class Controller(ABC):
    """Chooses actions; ``reset`` is called at every new episode of the learned world."""

    name: str = "controller"
    needs_real: bool = False

    def reset(self, inp: ControlInput, seed: int) -> None:  # noqa: B027 - most controllers keep no state
        """Start an episode whose first frame is ``inp.frame``."""

    def real_reset(self, world: Any, seed: int) -> None:  # noqa: B027 - only real-simulator policies care
        """The real simulator started a new episode."""

    @abstractmethod
    def act(self, inp: ControlInput) -> int | None:
        """The next action id (None: finished)."""


class HumanController(Controller):
    """The keys held (keyboard and gamepad), resolved by the key map."""

    name = "human"

    def act(self, inp: ControlInput) -> int:
        """The held keys' action."""
        return inp.human_action


class PolicyController(Controller):
    """A named policy from :mod:`worldsim.policies` (``random``, ``scripted``)."""

    def __init__(self, policy_name: str, world: str, schema: ActionSchema, seed: int = 0) -> None:
        from worldsim.policies.base import make_policy

        self.policy = make_policy(policy_name, world)
        self.name = f"policy:{policy_name}"
        # Privileged policies read simulator state, which only the real simulator has.
        self.needs_real = self.policy.privileged
        self.schema, self.seed = schema, seed
        self._ready = False

    def reset(self, inp: ControlInput, seed: int) -> None:
        """Frame-only policies restart with the learned world's episode."""
        if not self.needs_real:
            self.policy.reset(LearnedWorld(self.schema), np.random.default_rng(seed))
            self._ready = True

    def real_reset(self, world: Any, seed: int) -> None:
        """Privileged policies restart with the real simulator's episode."""
        if self.needs_real:
            self.policy.reset(world, np.random.default_rng(seed))
            self._ready = True

    def act(self, inp: ControlInput) -> int:
        """The policy's action on the real frame (privileged policies) or the generated one."""
        if not self._ready:
            return 0
        frame = inp.real_frame if self.needs_real else inp.frame
        return int(self.policy.act(frame))


class AgentController(Controller):
    """A trained agent (stable-baselines3 model) acting on generated frames.

    Args:
        model: Anything with ``predict(obs, deterministic=True) -> (action, state)`` and an
            ``observation_space`` of one frame or a stack of frames.
        label: Shown in the HUD.
        resolution: ``(H, W)`` of the world's frames.
    """

    def __init__(self, model: Any, label: str, resolution: tuple[int, int]) -> None:
        self.model, self.name = model, f"agent:{label}"
        self.layout, self.stack = _observation_layout(tuple(model.observation_space.shape), resolution, label)
        self.history: deque[np.ndarray] = deque(maxlen=self.stack)

    def reset(self, inp: ControlInput, seed: int) -> None:
        """Empty the frame stack: older slots are zeros, as after SB3's ``VecFrameStack.reset`` in training."""
        self.history.clear()
        self.history.extend([np.zeros_like(inp.frame)] * self.stack)

    def act(self, inp: ControlInput) -> int:
        """The agent's deterministic action."""
        self.history.append(inp.frame)
        frames = np.stack(self.history)  # (K, H, W, 3)
        if self.layout == "hwc":
            obs = np.concatenate(list(frames), axis=-1)  # (H, W, 3K)
        elif self.layout == "chw":
            obs = np.concatenate([f.transpose(2, 0, 1) for f in frames], axis=0)  # (3K, H, W)
        else:
            obs = frames  # (K, H, W, 3)
        action, _ = self.model.predict(obs, deterministic=True)
        return int(np.asarray(action).reshape(-1)[0])


def _observation_layout(shape: tuple[int, ...], resolution: tuple[int, int], label: str) -> tuple[str, int]:
    h, w = resolution
    if len(shape) == 3 and shape[:2] == (h, w) and shape[2] % 3 == 0:
        return "hwc", shape[2] // 3
    if len(shape) == 3 and shape[1:] == (h, w) and shape[0] % 3 == 0:
        return "chw", shape[0] // 3
    if len(shape) == 4 and shape[1:] == (h, w, 3):
        return "khwc", shape[0]
    raise CheckpointError(
        f"{label}: the agent observes {shape}, but this world gives {h}x{w}x3 frames; "
        "train the agent on this world (scripts/train_agent.py)"
    )


def load_agent(
    path: str | Path, schema: ActionSchema, resolution: tuple[int, int], trust_pickle: bool = False
) -> AgentController:
    """Load an agent file (``agent.safetensors`` from ``scripts/train_agent.py``) as a controller.

    A stable-baselines3 ``.zip`` is unpickled to load, which runs code from the file: it is opened only with
    ``trust_pickle`` (``--trust-pickle``), an explicit statement that the file is trusted.

    Raises:
        DependencyNotInstalled: stable-baselines3 is missing (with the install command).
        CheckpointError: the file is missing, unreadable, or made for other actions or frames.
        ConfigError: a ``.zip`` without ``trust_pickle``.
    """
    from worldsim.rl.agent_file import load_agent_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: agent file not found; train one with scripts/train_agent.py")
    model = load_agent_file(path, trust_pickle=trust_pickle)
    n = getattr(model.action_space, "n", None)
    if n != len(schema):
        raise CheckpointError(
            f"{path}: the agent has {n} actions, world {schema.world!r} has {len(schema)} ({', '.join(schema.names)})"
        )
    return AgentController(model, path.name, resolution)


class ReplayController(Controller):
    """Plays a :class:`Replay`'s actions in order; answers None when they run out."""

    def __init__(self, replay: Replay) -> None:
        self.replay, self.name, self.index = replay, f"replay:{replay.label}", 0

    def reset(self, inp: ControlInput, seed: int) -> None:
        """Start from the first action again."""
        self.index = 0

    @property
    def remaining(self) -> int:
        """Actions not played yet."""
        return len(self.replay.actions) - self.index

    def act(self, inp: ControlInput) -> int | None:
        """The next recorded action."""
        if self.index >= len(self.replay.actions):
            return None
        self.index += 1
        return self.replay.actions[self.index - 1]


@dataclass
class ControllerSet:
    """The controllers a session can switch between (``human`` first); ``current`` is active."""

    controllers: list[Controller] = field(default_factory=lambda: [HumanController()])
    current: int = 0

    @property
    def active(self) -> Controller:
        """The active controller."""
        return self.controllers[self.current]

    def cycle(self) -> Controller:
        """Switch to the next controller."""
        self.current = (self.current + 1) % len(self.controllers)
        return self.active

    def select(self, name_prefix: str) -> None:
        """Make the first controller whose name starts with ``name_prefix`` active."""
        for i, c in enumerate(self.controllers):
            if c.name.startswith(name_prefix):
                self.current = i
                return

    def replay(self) -> ReplayController | None:
        """The replay controller, if any."""
        return next((c for c in self.controllers if isinstance(c, ReplayController)), None)


def make_policy_controller(
    spec: str,
    world: str,
    schema: ActionSchema,
    resolution: tuple[int, int],
    seed: int = 0,
    trust_pickle: bool = False,
) -> Controller:
    """``spec`` is a policy name (``random``, ``scripted``) or an agent file (see :func:`load_agent`)."""
    if spec.endswith((".safetensors", ".zip")) or Path(spec).is_file():
        return load_agent(spec, schema, resolution, trust_pickle)
    from worldsim.policies.base import POLICIES

    if spec in POLICIES and world not in POLICIES[spec] and "*" not in POLICIES[spec]:
        raise ConfigError(
            f"policy {spec!r} has no implementation for world {world!r}; use --policy random or an agent file"
        )
    return PolicyController(spec, world, schema, seed)


def load_replay(spec: str | Path, schema: ActionSchema, resolution: tuple[int, int], context: int) -> Replay:
    """A replay from an action file, or ``DATASET_DIR:EPISODE`` (``DATASET_DIR`` alone: episode 0).

    A dataset episode also gives the learned world its first ``context`` real frames and the recorded frames
    to show beside the generated ones.
    """
    from worldsim.play.actionfile import read_action_file

    spec = str(spec)
    path = Path(spec)
    if path.is_file():
        return Replay(read_action_file(path, schema), path.name)
    root, sep, index = spec.rpartition(":")
    if not sep or not index.isdigit():
        root, index = spec, "0"
    return _episode_replay(Path(root), int(index), schema, resolution, context)


def _episode_replay(root: Path, index: int, schema: ActionSchema, resolution: tuple[int, int], context: int) -> Replay:
    from worldsim.data.dataset import Dataset

    if not root.exists():
        raise ConfigError(f"{root}: replay not found; pass an action file or DATASET_DIR:EPISODE")
    ds = Dataset(root)
    if ds.schema.fingerprint != schema.fingerprint:
        raise DatasetError(
            f"{root}: recorded with actions {ds.schema.names} (world {ds.schema.world!r}); "
            f"this world has {schema.names}: replay a dataset of the same world"
        )
    if ds.resolution != tuple(resolution):
        raise DatasetError(f"{root}: frames are {ds.resolution}, the world's are {tuple(resolution)}")
    if not 0 <= index < len(ds):
        raise DatasetError(f"{root}: has episodes 0..{len(ds) - 1}, not {index}")
    ep = ds.episode(index)
    if ep.num_steps < context:
        raise DatasetError(f"{root}:{index}: episode has {ep.num_steps} steps; replay needs more than {context}")
    unknown = len(schema)
    ctx_actions = np.array([unknown, *ep.actions[: context - 1]], dtype=np.int64)
    return Replay(
        actions=[int(a) for a in ep.actions[context - 1 :]],
        label=f"{root.name}:{index}",
        context=(np.array(ep.frames[:context]), ctx_actions),
        frames=np.array(ep.frames[context:]),
    )
