"""The one training loop: the codec, refiner, dynamics (and distillation) and inverse-dynamics trainers plug in.

A trainer supplies ``step(s)``, one optimisation step at index ``s`` that returns its scalars as detached tensors;
:func:`fit` owns the rest:

- the learning rate of each step (:func:`cosine_lr`), set on the optimiser before the step;
- a stop signal (Ctrl+C, SIGTERM) and any stop rule of the trainer (a time limit, a step budget), checked before
  each step; the state is saved before the loop ends, so re-running the same command continues;
- metrics averaged over each log window with **one device sync per log row**, a non-finite guard, samples/s and
  training seconds (evaluation time does not count);
- periodic hooks (evaluation, samples) and the checkpoint cadence;
- a tqdm bar.

Randomness belongs to the step: each trainer draws the batch of step ``s`` from a generator seeded by
``(seed, s)``, so a resumed run needs no RNG state and continues exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm import tqdm

from worldsim.errors import Error
from worldsim.stop import GracefulStop

#: A periodic hook: ``(every, fn)``; ``fn(step)`` runs when ``step % every == 0`` and at the last step, and returns
#: values for the log row (or None). ``every = 0`` runs it at the last step only.
Hook = tuple[int, Callable[[int], dict[str, Any] | None]]


def cosine_lr(step: int, lr: float, warmup: int, total: int, min_ratio: float) -> float:
    """Learning rate of step ``step`` (0-based): linear warm-up, then cosine decay to ``lr * min_ratio``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


@dataclass
class FitResult:
    """Where :func:`fit` ended.

    Attributes:
        step: Steps done in all (resumed runs included).
        seconds: Training seconds in all (steps only, not evaluation).
        last: The latest value of every logged metric.
        stopped: Whether it ended before ``total`` (a signal, a stop rule or ``end``).
    """

    step: int
    seconds: float
    last: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False


@dataclass
class _Window:
    """Sums of the step scalars since the last log row, kept on the device (no sync per step)."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    steps: int = 0
    start: float = field(default_factory=time.perf_counter)

    def add(self, scalars: dict[str, torch.Tensor]) -> None:
        if not scalars:  # a step the trainer skipped (e.g. a batch with nothing to learn from)
            return
        for k, v in scalars.items():
            v = v.detach().double() if isinstance(v, torch.Tensor) else torch.tensor(float(v), dtype=torch.float64)
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.steps += 1

    def means(self) -> dict[str, float]:
        if not self.sums:
            return {}
        keys = list(self.sums)
        values = (torch.stack([self.sums[k].cpu() for k in keys]) / max(1, self.steps)).tolist()  # the one sync
        return dict(zip(keys, values, strict=True))

    def reset(self) -> None:
        self.sums, self.steps, self.start = {}, 0, time.perf_counter()


def fit(
    step: Callable[[int], dict[str, torch.Tensor]],
    *,
    start: int,
    total: int,
    name: str,
    opt: torch.optim.Optimizer | None = None,
    lr: Callable[[int], float] | None = None,
    end: int | None = None,
    seconds: float = 0.0,
    log_every: int = 100,
    ckpt_every: int = 0,
    hooks: Sequence[Hook] = (),
    save: Callable[[int, float], None] | None = None,
    log: Callable[[int, dict[str, Any]], None] | None = None,
    derive: Callable[[dict[str, float]], dict[str, float]] | None = None,
    stop_rule: Callable[[bool, int, float], bool] | None = None,
    samples_per_step: int = 1,
    progress: bool = True,
    postfix: Sequence[str] = ("loss",),
    last: dict[str, Any] | None = None,
) -> FitResult:
    """Run ``step(s)`` for ``s`` in ``start .. end - 1`` (``end`` defaults to ``total``).

    Args:
        step: One optimisation step at index ``s``; returns detached scalar tensors (``loss`` first by convention).
        start: First step (a resumed run's saved step).
        total: Steps of the whole run (the LR schedule and the last-step hooks refer to it).
        name: What is trained, for the bar and error messages.
        opt: Optimiser whose groups get ``lr(s)`` before each step.
        lr: Learning rate of each step.
        end: Stop this call at this step (time-boxed sessions); the state is saved there.
        seconds: Training seconds of earlier invocations.
        log_every: Steps per log row.
        ckpt_every: Steps per checkpoint (0: only when the loop ends).
        hooks: Periodic hooks (evaluation, samples); their values join the log row.
        save: ``save(step, seconds)`` writes the resumable state.
        log: ``log(step, row)`` records a row (CSV, TensorBoard).
        derive: Extra values computed from a row's means (e.g. PSNR from the MSE).
        stop_rule: ``stop_rule(signalled, steps_done_here, seconds_here)``: whether to stop before the next step
            (default: when signalled). Distributed runs agree on it across ranks here.
        samples_per_step: Samples one step consumes (for samples/s).
        progress: Show a tqdm bar.
        postfix: Row values shown on the bar.
        last: Latest metrics of earlier invocations (a resumed run reports them until it logs its own).

    Raises:
        Error: A log window's mean loss is not finite (the run diverged).
    """
    end = total if end is None else min(end, total)
    last = dict(last or {})
    window = _Window()
    s, first, began = start, start, time.perf_counter()
    rule = stop_rule or (lambda signalled, _done, _secs: signalled)
    stopped, rate = False, None

    def emit(row: dict[str, Any]) -> None:
        row["step"] = s
        if log is not None:
            log(s, row)
        last.update(row)

    with (
        GracefulStop() as signal,
        tqdm(total=total, initial=start, desc=name, unit="step", disable=not progress) as bar,
    ):
        while s < end:
            if rule(signal.requested, s - first, time.perf_counter() - began):
                stopped = True
                break
            t0 = time.perf_counter()
            rate = lr(s) if lr is not None else None
            if opt is not None and rate is not None:
                for g in opt.param_groups:
                    g["lr"] = rate
            window.add(step(s))
            s += 1
            seconds += time.perf_counter() - t0
            bar.update(1)
            row: dict[str, Any] = {}
            if s % log_every == 0 or s == end:
                row = _row(window, name, s, rate, seconds, samples_per_step, derive)
            for every, hook in hooks:
                if (every and s % every == 0) or s == total:
                    row.update(hook(s) or {})
                    window.start = time.perf_counter()  # hook time is not training throughput
            if row:
                emit(row)
                bar.set_postfix({k: f"{last[k]:.4g}" for k in postfix if isinstance(last.get(k), float)})
            if save is not None and ((ckpt_every and s % ckpt_every == 0) or s == end):
                save(s, seconds)
        if window.steps:  # the partial window of a run stopped early
            emit(_row(window, name, s, rate, seconds, samples_per_step, derive))
        if stopped and save is not None:
            save(s, seconds)
    return FitResult(s, seconds, last, stopped or s < total)


def _row(
    window: _Window,
    name: str,
    step: int,
    rate: float | None,
    seconds: float,
    samples_per_step: int,
    derive: Callable[[dict[str, float]], dict[str, float]] | None,
) -> dict[str, Any]:
    means = window.means()
    loss = means.get("loss")
    if loss is not None and not math.isfinite(loss):
        raise Error(
            f"the {name} loss became {loss} before step {step}: training diverged; "
            "use a new --out with a lower lr or a smaller grad_clip"
        )
    elapsed = time.perf_counter() - window.start
    row: dict[str, Any] = {**means, **(derive(means) if derive and means else {})}
    if rate is not None:
        row["lr"] = rate
    row["samples_per_s"] = window.steps * samples_per_step / max(elapsed, 1e-9)
    row["train_seconds"] = seconds
    window.reset()
    return row
