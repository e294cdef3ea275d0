"""The resumable train state every training stage shares: one module's weights, its optimiser, the step and the time.

The codec trainer, and the stages that train one part of a frozen world (its reward and termination heads, its
refiner), keep their state in one safetensors file and resume from it after a kill. A state is only resumed under the
settings it was trained with (and, for a part, for the world it was trained for): a run continued under other
settings would silently differ from the run its files claim. ``worldsim train`` refuses in the same words
(:func:`refuse_other_settings`); ``worldsim collect`` names the differences the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from worldsim.checkpoint import load_checkpoint, load_module, load_optimizer, module_tensors, optimizer_tensors
from worldsim.checkpoint import save_checkpoint as _save
from worldsim.config import setting_differences
from worldsim.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

#: Settings that may change between a run and its resumption: they do not change the weights it trains.
RESUMABLE = frozenset({"steps", "log_every", "eval_every", "ckpt_every", "device", "threads"})


def refuse_other_settings(
    where: str | Path, old: Mapping[str, Any], new: Mapping[str, Any], keys: Iterable[str]
) -> None:
    """Raise a one-line :class:`ConfigError` naming each of ``keys`` whose value differs between ``old`` and ``new``.

    The differences read as :func:`~worldsim.config.setting_differences` writes them.
    """
    diff = setting_differences(old, new, keys)
    if diff:
        raise ConfigError(
            f"{where} holds a run with other settings ({diff}); resume with the same settings or choose a new --out"
        )


class TrainState:
    """The state file of one trained ``module`` and its optimiser.

    Args:
        path: The state file.
        module: What is trained; its tensors are stored under ``prefix``.
        opt: Its optimiser (stored under ``optim.``).
        prefix: Tensor name prefix of the module, e.g. ``"heads."``.
        settings_key: Metadata key of the settings, e.g. ``"heads_config"``.
        settings: The run's settings (``to_dict`` of its config).
        also_resumable: Settings besides :data:`RESUMABLE` that may change on resumption (evaluation-only ones).
        digest: What the module belongs to (a frozen world's digest), or None; resuming for another is refused.
    """

    def __init__(
        self,
        path: Path,
        module: torch.nn.Module,
        opt: torch.optim.Optimizer,
        prefix: str,
        settings_key: str,
        settings: dict[str, Any],
        also_resumable: Iterable[str] = (),
        digest: str | None = None,
    ) -> None:
        self.path, self.module, self.opt, self.prefix = path, module, opt, prefix
        self.settings_key, self.settings, self.digest = settings_key, settings, digest
        self.resumable = RESUMABLE | set(also_resumable)

    def resume(self, total: int) -> tuple[int, float]:
        """Load the state if there is one: ``(step, train_seconds)``, or ``(0, 0.0)``.

        Raises:
            CheckpointError: The state belongs to another world (``digest``) or is damaged.
            ConfigError: It was trained with other settings than those that must stay the same.
        """
        if not self.path.exists():
            return 0, 0.0
        tensors, meta = load_checkpoint(self.path, kind="train_state")
        if self.digest is not None and meta.get("world_digest") != self.digest:
            raise CheckpointError(f"{self.path}: was trained for another world; use a new --out")
        old = meta.get(self.settings_key, {})
        refuse_other_settings(self.path, old, self.settings, [k for k in self.settings if k not in self.resumable])
        load_module(self.module, tensors, prefix=self.prefix, path=self.path)
        load_optimizer(self.opt, tensors, meta["optimizer"], prefix="optim.")
        step, seconds = int(meta["step"]), float(meta.get("train_seconds", 0.0))
        log.info("resuming %s from step %d of %d", self.path, step, total)
        return step, seconds

    def save(self, step: int, train_seconds: float, **metadata: Any) -> None:
        """Write the state atomically (the step, the time, the settings, the digest and ``metadata``)."""
        opt_tensors, opt_info = optimizer_tensors(self.opt, prefix="optim.")
        extra = {"world_digest": self.digest} if self.digest is not None else {}
        _save(
            self.path, {**module_tensors(self.module, prefix=self.prefix), **opt_tensors}, kind="train_state",
            step=step, optimizer=opt_info, train_seconds=train_seconds, **{self.settings_key: self.settings},
            rng="batch of step s = numpy default_rng([seed, s])", **extra, **metadata,
        )  # fmt: skip
