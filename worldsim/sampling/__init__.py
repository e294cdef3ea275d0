"""Generating frames with a trained dynamics model."""

from worldsim.sampling.window import WindowSampler, euler_schedule

__all__ = ["WindowSampler", "euler_schedule"]
