"""The sampling options every generating command takes, with one meaning: overrides of the world's recipe."""

from __future__ import annotations

import argparse
from typing import Any

from worldsim.config import apply_overrides


def add_sampling_args(p: argparse.ArgumentParser, steps: bool = True) -> None:
    """``--steps``, ``--guidance`` and ``-S KEY=VALUE`` (any field of the recipe); unset means the world's."""
    g = p.add_argument_group("sampling (each defaults to the world's recipe)")
    # A command whose own --steps means something else (bench: the step counts to time) keeps it out of the recipe.
    p.set_defaults(steps_is_sampling=steps)
    if steps:
        g.add_argument("--steps", type=int, help="denoising steps per frame")
    g.add_argument("--guidance", type=float, help="action guidance scale (1 = none; 0 = the null action only)")
    g.add_argument(
        "-S",
        "--sampling",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any field of the sampling recipe, e.g. guidance.parallel=0, context_noise=0.2, hold.threshold=0",
    )
    g.add_argument(
        "--no-hold",
        action="store_true",
        help="no pixel post-processing: every pixel is the decoder's (pixel hold and still frames off)",
    )


def sampling_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The nested overrides the options ask for (empty: the world's recipe as it ships)."""
    own_steps = getattr(args, "steps_is_sampling", True) and getattr(args, "steps", None) is not None
    items = [f"steps={args.steps}"] if own_steps else []
    if args.guidance is not None:
        items.append(f"guidance.scale={args.guidance}")
    if getattr(args, "no_hold", False):
        items += [f"hold.{k}=0" for k in ("threshold", "region_threshold", "still", "still_region", "snap")]
    return apply_overrides({}, [*items, *args.sampling])
