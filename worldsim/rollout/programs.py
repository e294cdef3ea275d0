"""Action programs: what the driver does, frame by frame.

A program is a list of segments. A segment holds one action for some frames (``{action: brake, frames: 10}``)
or lets a named data policy from ``worldsim/policies/`` drive (``{policy: scripted, frames: 40, params: {noise: 0}}``).
The last segment may leave out ``frames``: it then lasts until the horizon. A program shorter than the
horizon holds its last segment to the end.

Policies read the real simulator's state, so they act during the *real* run; the model is then fed the
actions the policy took there (:class:`ProgramDriver` records them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worldsim.actions import ActionSchema
from worldsim.policies.base import Policy, make_policy
from worldsim.sources.base import World


@dataclass(frozen=True)
class Segment:
    """One piece of a program: a held action or a policy, for ``frames`` frames.

    Attributes:
        action: Action name held during the segment (exclusive with ``policy``).
        policy: Name of a policy in ``worldsim.policies.base.POLICIES`` that drives during the segment.
        params: Keyword arguments of the policy's constructor.
        frames: Length in frames; ``None`` means until the end of the horizon (last segment only).
    """

    action: str | None = None
    policy: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    frames: int | None = None

    def __post_init__(self) -> None:
        if (self.action is None) == (self.policy is None):
            raise ValueError("a segment has exactly one of 'action' and 'policy'")
        if self.frames is not None and self.frames < 1:
            raise ValueError(f"segment frames must be >= 1, got {self.frames}")

    def describe(self) -> str:
        """Short text such as ``brake x10`` or ``policy scripted(noise=0.0) x40``."""
        if self.policy is not None:
            args = ", ".join(f"{k}={v}" for k, v in self.params.items())
            what = f"policy {self.policy}({args})" if args else f"policy {self.policy}"
        else:
            what = str(self.action)
        return f"{what} x{self.frames}" if self.frames is not None else f"{what} to the end"


@dataclass(frozen=True)
class Program:
    """A sequence of segments (see the module docstring)."""

    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("a program needs at least one segment")
        if any(s.frames is None for s in self.segments[:-1]):
            raise ValueError("only the last segment may leave out 'frames'")

    @property
    def length(self) -> int | None:
        """Frames the segments span, or ``None`` when the last one runs to the end of the horizon."""
        if self.segments[-1].frames is None:
            return None
        return sum(s.frames for s in self.segments)

    @property
    def uses_policy(self) -> bool:
        """Whether any segment is driven by a policy (then the actions come from the real run)."""
        return any(s.policy is not None for s in self.segments)

    def describe(self) -> str:
        """The segments as text, e.g. ``gas x20, brake to the end``."""
        return ", ".join(s.describe() for s in self.segments)

    def segment_of_frame(self, horizon: int) -> np.ndarray:
        """``(horizon,)`` index of the segment active at each frame; the last segment fills what is left."""
        out = np.full(horizon, len(self.segments) - 1, dtype=np.int64)
        t = 0
        for i, seg in enumerate(self.segments):
            n = seg.frames if seg.frames is not None else horizon
            out[t : t + n] = i
            t += n
            if t >= horizon:
                break
        return out

    def fixed_actions(self, horizon: int, schema: ActionSchema) -> np.ndarray | None:
        """``(horizon,)`` action ids when no segment uses a policy, else ``None``."""
        if self.uses_policy:
            return None
        ids = np.array([schema.index(s.action) for s in self.segments], dtype=np.int64)
        return ids[self.segment_of_frame(horizon)]


class ProgramDriver:
    """Plays a program on a real world, one action per frame, and remembers the actions it chose.

    Each policy segment gets its own policy instance, reset when the segment starts with a generator seeded
    from ``seed`` and the segment's index, so a run is deterministic for a seed.

    Args:
        program: The program.
        horizon: Frames it is played for.
        schema: Action schema of the world (names to ids).
        world: The real world, already reset; policies read its state. ``None`` when there is no real
            world, then the program must not use policies.
        seed: Entropy for the policies' generators (ints, e.g. ``[scenario_seed, branch, 1]``).
    """

    def __init__(
        self, program: Program, horizon: int, schema: ActionSchema, world: World | None, seed: Sequence[int]
    ) -> None:
        if world is None and program.uses_policy:
            raise ValueError("a program with policy segments needs the real world")
        self.program, self.schema, self.world, self.seed = program, schema, world, list(seed)
        self.segment = program.segment_of_frame(horizon)
        self.actions: list[int] = []
        self._policies: dict[int, Policy] = {}

    def act(self, frame: np.ndarray | None) -> int:
        """The action of the next frame, given the current real frame (``None`` after the episode ended)."""
        t = len(self.actions)
        i = int(self.segment[min(t, len(self.segment) - 1)])
        seg = self.program.segments[i]
        if seg.action is not None:
            a = self.schema.index(seg.action)
        elif frame is None:
            # The real episode is over: nothing left for the policy to read, so it holds its last action.
            a = self.actions[-1] if self.actions else 0
        else:
            a = int(self._policy(i).act(frame))
        self.actions.append(a)
        return a

    def _policy(self, i: int) -> Policy:
        if i not in self._policies:
            seg = self.program.segments[i]
            policy = make_policy(seg.policy, self.world.name, **dict(seg.params))
            policy.reset(self.world, np.random.default_rng([*self.seed, i]))
            self._policies[i] = policy
        return self._policies[i]
