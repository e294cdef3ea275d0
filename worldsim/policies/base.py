"""The policy interface used for data collection, and the registry of named policies."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from worldsim.errors import ConfigError, unknown_name
from worldsim.sources.base import World


class Policy(ABC):
    """Chooses discrete actions in a :class:`~worldsim.sources.base.World`.

    Scripted policies may read privileged simulator state through ``world.unwrapped``; all randomness
    comes from the generator given to :meth:`reset`, so collection is deterministic for a seed.

    Attributes:
        privileged: The policy reads simulator state (so in play it drives the real simulator); False for
            policies that act on the frame alone, which also drive a learned world.
    """

    privileged: bool = True

    def reset(self, world: World, rng: np.random.Generator) -> None:
        """Start an episode in ``world`` (already reset)."""
        self.world = world
        self.rng = rng

    @abstractmethod
    def act(self, frame: np.ndarray) -> int:
        """Return the action id to take on ``frame``."""


class LearnedWorld:
    """What a frame-only policy may know about a learned world: its name and actions (there is no state to read)."""

    explore_weights = None

    def __init__(self, schema: Any) -> None:
        self.schema, self.name = schema, schema.world

    @property
    def unwrapped(self) -> LearnedWorld:
        """Itself (as a real simulator's adapter answers its simulator)."""
        return self


# name -> {world name or "*": "module:Class"}; "*" applies to every world.
POLICIES: dict[str, dict[str, str]] = {
    "random": {"*": "worldsim.policies.random_persistent:RandomPersistentPolicy"},
    "constant": {"*": "worldsim.policies.constant:ConstantPolicy"},
    "scripted": {
        "carracing": "worldsim.policies.carracing_driver:CarRacingDriver",
        "highway": "worldsim.policies.highway_driver:HighwayDriver",
        "toy": "worldsim.policies.toy_seeker:ToySeeker",
        "breakout": "worldsim.policies.breakout_tracker:BreakoutTracker",
    },
    "pilot": {
        "carracing": "worldsim.policies.carracing_pilot:CarRacingPilot",
        "breakout": "worldsim.policies.breakout_pilot:BreakoutPilot",
    },
}
# Counterfactual data: the scripted policy with held deviating actions (every world that has a scripted policy).
POLICIES["deviate"] = {world: "worldsim.policies.deviating:DeviatingPolicy" for world in POLICIES["scripted"]}


def available_policies(world: str) -> list[str]:
    """Names of the policies that can drive ``world``."""
    return [name for name, impls in POLICIES.items() if world in impls or "*" in impls]


def make_policy(name: str, world: str, **kwargs: Any) -> Policy:
    """Instantiate policy ``name`` for ``world``."""
    if name not in POLICIES:
        raise unknown_name("policy", name, POLICIES)
    impls = POLICIES[name]
    target = impls.get(world, impls.get("*"))
    if target is None:
        raise ConfigError(
            f"policy {name!r} has no implementation for world {world!r}; "
            f"available for it: {', '.join(available_policies(world))}"
        )
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)


def parse_mix(spec: str, world: str) -> dict[str, float]:
    """Parse a policy mix such as ``"scripted=0.7,random=0.3"`` (or a single name) into normalised weights.

    ``"auto"`` means 70% scripted and 30% random where the world has a scripted policy, else random.
    """
    if spec == "auto":
        spec = "scripted=0.7,random=0.3" if "scripted" in available_policies(world) else "random"
    weights: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, weight = part.strip().partition("=")
        if name not in POLICIES:
            raise unknown_name("policy", name, POLICIES)
        if name not in available_policies(world):
            raise ConfigError(
                f"policy {name!r} is not available for world {world!r}; "
                f"use one of {', '.join(available_policies(world))}"
            )
        try:
            w = float(weight) if sep else 1.0
        except ValueError:
            raise ConfigError(f"policy mix {spec!r}: weight {weight!r} of {name!r} is not a number") from None
        if w < 0:
            raise ConfigError(f"policy mix {spec!r}: weight of {name!r} must be >= 0")
        weights[name] = w
    total = sum(weights.values())
    if total <= 0:
        raise ConfigError(f"policy mix {spec!r}: weights must not all be zero")
    return {k: v / total for k, v in weights.items()}
