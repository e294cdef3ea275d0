"""Generating frames with a trained dynamics model."""

from worldsim.sampling.cached import CachedSampler
from worldsim.sampling.window import WindowSampler, euler_schedule

__all__ = ["CachedSampler", "WindowSampler", "euler_schedule"]
