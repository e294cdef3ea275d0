"""The sampling recipe: how a world's frames are generated and shown, and the one place it is resolved.

A world ships a :class:`SamplingConfig` in its file (chosen per world and recorded in ``configs/ship/WORLD.yaml``).
Every entry point (``Simulator``, ``gym.make``, play, rollout, eval, bench, export) takes the same optional
``sampling`` overrides, a nested mapping or dotted keys, and :func:`resolve_sampling` merges them onto the
world's recipe. Unset means "the world's": there is no other sentinel.

>>> base = SamplingConfig(guidance=GuidanceConfig(scale=2.5))
>>> resolve_sampling(base, {"guidance.scale": 0, "steps": 4}).guidance
GuidanceConfig(scale=0.0, parallel=1.0)
>>> resolve_sampling(base, {"guidance": {"parallel": 0}}).guidance
GuidanceConfig(scale=2.5, parallel=0.0)

A new knob is a field here plus the code that reads it (the samplers read ``steps``, ``context_noise`` and
``guidance``; :class:`~worldsim.sampling.display.Display` reads ``hold``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from worldsim.codec.loss import check_region, region_slices
from worldsim.config import apply_overrides, from_dict, set_dotted, to_dict
from worldsim.errors import ConfigError


@dataclass(frozen=True)
class GuidanceConfig:
    """Classifier-free guidance on the action (see :func:`~worldsim.sampling.schedule.guided`).

    Attributes:
        scale: Guidance scale (1 = none: one model pass per denoising step; otherwise a conditional and a
            null-action pass, batched). Measured: CarRacing 2.5, Breakout 2 and Doom 2 follow actions better
            than 1 (model cards).
        parallel: Weight in [0, 1] of the guidance update along the conditional prediction (1 = plain guidance;
            0 = projected guidance, which keeps action following with less drift over long rollouts: Doom's
            17-64 frame PSNR rose from 17.27 to 17.83 dB with it).
    """

    scale: float = 1.0
    parallel: float = 1.0

    def __post_init__(self) -> None:
        if self.scale < 0:
            raise ValueError(f"guidance scale must be >= 0, got {self.scale}")
        if not 0.0 <= self.parallel <= 1.0:
            raise ValueError(f"guidance parallel must be in [0, 1], got {self.parallel}")

    @property
    def enabled(self) -> bool:
        """Whether a null-action pass runs beside the conditional one."""
        return self.scale != 1.0


@dataclass(frozen=True)
class HoldConfig:
    """Pixel hold thresholds, in grey levels (0..255) of the largest channel change; 0 disables.

    Attributes:
        threshold: Threshold over the whole frame.
        region: ``(top, bottom, left, right)`` fractions of the frame with their own threshold (empty: none).
        region_threshold: Threshold inside ``region``.
        still: Fraction of the pixels outside ``region`` that must need a refresh for any of them to be
            refreshed (0 = every pixel on its own); below it they are all held.
        still_region: In a frame held still, the fraction of ``region`` that must need a refresh for any of it
            to be refreshed (0 = region pixels always on their own threshold). Needs ``still``.
        snap: A refreshed pixel whose decoding is within this many grey levels of the first real frame shown
            there shows the real value (0 = off).
    """

    threshold: float = 0.0
    region: tuple[float, ...] = ()
    region_threshold: float = 0.0
    still: float = 0.0
    still_region: float = 0.0
    snap: float = 0.0

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.region_threshold < 0:
            raise ValueError(f"hold thresholds must be >= 0 grey levels, got {self.threshold}, {self.region_threshold}")
        if self.snap < 0 or (self.snap > 0 and not self.enabled):
            raise ValueError(f"hold snap must be >= 0 grey levels and needs a hold threshold, got {self.snap}")
        if not 0 <= self.still < 1:
            raise ValueError(f"hold still fraction must be in [0, 1), got {self.still}")
        if not 0 <= self.still_region < 1 or (self.still_region > 0 and self.still == 0):
            raise ValueError(f"hold still_region must be in [0, 1) and needs still > 0, got {self.still_region}")
        check_region(self.region, 1.0)

    @property
    def enabled(self) -> bool:
        """Whether any pixel can be held."""
        return self.threshold > 0 or (len(self.region) > 0 and self.region_threshold > 0)

    def thresholds(self, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """``(1, 1, H, W)`` thresholds in model units (``[-1, 1]`` frames: a grey level is ``2 / 255``)."""
        t = torch.full((1, 1, height, width), self.threshold, device=device)
        if len(self.region):
            t[(..., *region_slices(self.region, height, width))] = self.region_threshold
        return t * (2.0 / 255.0)

    def field(self, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """``(1, 1, H, W)`` bool mask of the pixels outside ``region`` (the ones ``still`` counts)."""
        m = torch.ones((1, 1, height, width), dtype=torch.bool, device=device)
        if len(self.region):
            m[(..., *region_slices(self.region, height, width))] = False
        return m


@dataclass(frozen=True)
class SamplingConfig:
    """How a world's frames are generated and shown.

    Attributes:
        steps: Denoising steps per frame (settable live in play; fewer is faster, a shortcut-distilled world
            keeps its quality down to 1-4).
        context_noise: Noise level in [0, 1) committed context frames carry (anti-drift; Doom ships 0.2).
        guidance: Action guidance.
        hold: Pixel hold on the decoded frames (see :mod:`worldsim.sampling.display`).
    """

    steps: int = 16
    context_noise: float = 0.05
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    hold: HoldConfig = field(default_factory=HoldConfig)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not 0.0 <= self.context_noise < 1.0:
            raise ValueError(f"context_noise must be in [0, 1), got {self.context_noise}")


#: What every entry point accepts as ``sampling``: nothing (the world's recipe), a whole recipe, or overrides as a
#: nested mapping (``{"guidance": {"scale": 2}}``), dotted keys (``{"guidance.scale": 2}``) or ``key=value``
#: strings (``["guidance.scale=2"]``, as the command line gives them).
SamplingOverrides = SamplingConfig | Mapping[str, Any] | list[str] | tuple[str, ...] | None


def resolve_sampling(
    base: SamplingConfig, overrides: SamplingOverrides = None, where: str = "sampling"
) -> SamplingConfig:
    """The recipe to sample with: ``base`` (the world's) with ``overrides`` applied; the one place this happens.

    Raises:
        ConfigError: An unknown key (with a "did you mean"), a wrong type or a value out of range, naming ``where``.
    """
    if overrides is None:
        return base
    if isinstance(overrides, SamplingConfig):
        return overrides
    if isinstance(overrides, list | tuple):
        return from_dict(SamplingConfig, apply_overrides(to_dict(base), [str(o) for o in overrides]), where=where)
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"{where}: expected a mapping of overrides such as {{'steps': 4}}, got {overrides!r}")
    data = to_dict(base)
    for key, value in _flatten(overrides):
        set_dotted(data, key, value, f"{where} ({key!r})")
    return from_dict(SamplingConfig, data, where=where)


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += _flatten(value, name + ".")
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            out += _flatten(to_dict(value), name + ".")
        else:
            out.append((name, value))
    return out


#: Flat keys of world files written before the recipe was nested, and where each lives now.
_LEGACY_KEYS = {
    "guidance_parallel": "guidance.parallel",
    "hold_region": "hold.region",
    "hold_region_threshold": "hold.region_threshold",
    "hold_still": "hold.still",
    "hold_still_region": "hold.still_region",
    "hold_snap": "hold.snap",
}


def sampling_from_file(data: Mapping[str, Any], where: str) -> tuple[SamplingConfig, dict[str, Any]]:
    """The recipe stored in a world file, and any world metadata stored beside it (``fps`` in old files).

    World files before the nested recipe stored flat keys (``guidance: 2``, ``hold_still: 0.04``, ``fps``): they
    are mapped here, once, so every shipped and user world still loads with the same numbers.
    """
    data = dict(data)
    extra = {"fps": data.pop("fps")} if "fps" in data else {}
    nested: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("guidance", "hold") and not isinstance(value, Mapping):
            key = f"{key}.scale" if key == "guidance" else "hold.threshold"
        nested[_LEGACY_KEYS.get(key, key)] = value
    return resolve_sampling(SamplingConfig(), nested, where), extra
