"""Inverse dynamics: a small CNN that tells which action led from one frame to the next.

Trained on real recordings, it checks *action following* in generated rollouts: if a world model obeys its
actions, the IDM should recover them from generated frame pairs about as often as from real ones. Many
actions look identical in some states (a car at standstill, a player against a wall), so accuracy well
below 100% is expected even on real data; always compare with :func:`train_idm`'s baselines.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worldsim.actions import ActionSchema
from worldsim.checkpoint import load_checkpoint, load_module, module_tensors, save_checkpoint
from worldsim.config import from_dict, to_dict
from worldsim.data.dataset import Dataset
from worldsim.device import resolve_device
from worldsim.errors import CheckpointError, ConfigError, DatasetError
from worldsim.training.loop import cosine_lr, fit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IDMConfig:
    """Architecture of an :class:`InverseDynamics` model.

    Attributes:
        height: Frame height in pixels.
        width: Frame width in pixels.
        num_actions: Number of action ids (``len(schema)``).
        channels: Channels of the stride-2 conv stages; each stage halves the resolution.
        hidden: Width of the hidden layer of the classifier head.
        use_diff: Also feed ``second - first`` as input channels (makes small motions easy to see).
        pool: ``"global"`` pools the last feature map to one vector (mean and max; translation invariant,
            generalises from little data), ``"grid"`` to a 4x4 grid (keeps coarse position).
    """

    height: int = 64
    width: int = 64
    num_actions: int = 5
    channels: tuple[int, ...] = (32, 64, 128, 128)
    hidden: int = 256
    use_diff: bool = True
    pool: Literal["global", "grid"] = "global"

    def __post_init__(self) -> None:
        if self.height < 8 or self.width < 8:
            raise ValueError(f"resolution {self.height}x{self.width} is too small; use at least 8x8")
        if self.num_actions < 1:
            raise ValueError(f"num_actions must be >= 1, got {self.num_actions}")
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be a non-empty list of positive ints, got {self.channels}")
        if min(self.height, self.width) < 2 ** len(self.channels):
            raise ValueError(
                f"{len(self.channels)} stride-2 stages need frames of at least {2 ** len(self.channels)} pixels, "
                f"got {self.height}x{self.width}; use fewer channels entries"
            )


def _groups(c: int) -> int:
    """Largest GroupNorm group count <= 8 that divides ``c``."""
    return next(g for g in (8, 4, 2, 1) if c % g == 0)


class InverseDynamics(nn.Module):
    """Classifies the action between two consecutive frames.

    GroupNorm rather than BatchNorm: the model behaves the same in train and eval mode and on batches of
    any size, including the single pairs of a short rollout.

    Args:
        config: Architecture.
        schema: Action schema of the world (stored in checkpoints); its length must be ``num_actions``.
    """

    def __init__(self, config: IDMConfig, schema: ActionSchema | None = None) -> None:
        super().__init__()
        if schema is not None and len(schema) != config.num_actions:
            raise ValueError(f"schema has {len(schema)} actions but config.num_actions is {config.num_actions}")
        self.config = config
        self.schema = schema
        self.meta: dict[str, Any] = {}
        layers: list[nn.Module] = []
        prev = 9 if config.use_diff else 6
        for c in config.channels:
            layers += [nn.Conv2d(prev, c, 4, stride=2, padding=1), nn.GroupNorm(_groups(c), c), nn.SiLU()]
            prev = c
        self.features = nn.Sequential(*layers)
        pooled = 2 * prev if config.pool == "global" else 16 * prev
        self.head = nn.Sequential(
            nn.Linear(pooled, config.hidden), nn.SiLU(), nn.Linear(config.hidden, config.num_actions)
        )

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return next(self.parameters()).device

    def forward(self, frames_a: torch.Tensor, frames_b: torch.Tensor) -> torch.Tensor:
        """Action logits ``[B, num_actions]`` for uint8 (or 0..255 float) frame tensors ``[B, H, W, 3]``."""
        expected = (self.config.height, self.config.width, 3)
        if tuple(frames_a.shape[1:]) != expected or frames_a.shape != frames_b.shape:
            raise ValueError(
                f"IDM expects two frame batches of shape [B, {', '.join(map(str, expected))}], "
                f"got {tuple(frames_a.shape)} and {tuple(frames_b.shape)}"
            )
        a = frames_a.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        b = frames_b.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        x = torch.cat([a, b, b - a] if self.config.use_diff else [a, b], dim=1)
        f = self.features(x)
        if self.config.pool == "global":
            # Max finds a small moving sprite anywhere; mean summarises whole-view motion (scrolling, turning).
            pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        else:
            pooled = F.adaptive_avg_pool2d(f, 4).flatten(1)
        return self.head(pooled)

    @torch.no_grad()
    def predict_logits(self, frames_a: np.ndarray, frames_b: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Logits ``[N, num_actions]`` (float32) for numpy uint8 frame pairs ``[N, H, W, 3]``."""
        was_training = self.training
        self.eval()
        out = []
        for i in range(0, len(frames_a), batch_size):
            a = torch.from_numpy(np.ascontiguousarray(frames_a[i : i + batch_size])).to(self.device)
            b = torch.from_numpy(np.ascontiguousarray(frames_b[i : i + batch_size])).to(self.device)
            out.append(self(a, b).float().cpu().numpy())
        self.train(was_training)
        if not out:
            return np.zeros((0, self.config.num_actions), np.float32)
        return np.concatenate(out)

    def predict(self, frames_a: np.ndarray, frames_b: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Most likely action id ``[N]`` for each frame pair."""
        return self.predict_logits(frames_a, frames_b, batch_size).argmax(-1)

    def save(self, path: str | Path, **meta: Any) -> None:
        """Write a ``kind="idm"`` checkpoint with config, action schema and JSON-able ``meta`` (e.g. metrics)."""
        save_checkpoint(
            path,
            module_tensors(self),
            kind="idm",
            config=to_dict(self.config),
            action_schema=self.schema.to_dict() if self.schema is not None else None,
            **meta,
        )

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu") -> InverseDynamics:
        """Load a model saved by :meth:`save`; extra metadata ends up in ``model.meta``."""
        tensors, meta = load_checkpoint(path, kind="idm")
        try:
            config = from_dict(IDMConfig, meta.get("config") or {}, where=f"{path}: config")
            schema = ActionSchema.from_dict(meta["action_schema"]) if meta.get("action_schema") else None
            model = cls(config, schema)
        except (ConfigError, KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{path}: invalid IDM metadata ({e}); retrain the IDM") from None
        load_module(model, tensors, path=path)
        model.meta = {k: v for k, v in meta.items() if k not in ("format", "kind", "config", "action_schema")}
        return model.to(device).eval()


def accuracy(
    model: InverseDynamics, frames_a: np.ndarray, frames_b: np.ndarray, actions: np.ndarray, batch_size: int = 256
) -> float:
    """Fraction of pairs whose predicted action equals ``actions`` (NaN for zero pairs)."""
    actions = np.asarray(actions)
    if len(actions) == 0:
        return float("nan")
    return float(np.mean(model.predict(frames_a, frames_b, batch_size) == actions))


class PairSampler:
    """Random consecutive frame pairs ``(frames[t], frames[t + 1], actions[t])`` from one split.

    Reads only the sampled frames from the memory-mapped shards, so datasets larger than RAM are fine.
    Transitions are drawn uniformly over all steps of the split (longer episodes proportionally more often).
    """

    def __init__(self, dataset: Dataset, split: Literal["train", "val"]) -> None:
        self.dataset = dataset
        refs = [(i, dataset.episodes[i]) for i in dataset.split(split)]
        refs = [(i, r) for i, r in refs if r.num_steps > 0]
        self.shard = np.array([r.shard for _, r in refs], dtype=np.int64)
        self.frame_start = np.array([dataset.shards[r.shard].frame_starts[r.index] for _, r in refs], dtype=np.int64)
        self.step_start = np.array([dataset.shards[r.shard].step_starts[r.index] for _, r in refs], dtype=np.int64)
        steps = np.array([r.num_steps for _, r in refs], dtype=np.int64)
        self.ends = np.cumsum(steps)
        self.starts = self.ends - steps

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def gather(self, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs for global transition indices ``ks`` in ``[0, len(self))``: ``(frames_a, frames_b, actions)``."""
        ks = np.asarray(ks, dtype=np.int64)
        ep = np.searchsorted(self.ends, ks, side="right")
        t = ks - self.starts[ep]
        h, w = self.dataset.resolution
        a = np.empty((len(ks), h, w, 3), np.uint8)
        b = np.empty_like(a)
        act = np.empty(len(ks), np.int64)
        for s in np.unique(self.shard[ep]):
            sel = np.flatnonzero(self.shard[ep] == s)
            arrays = self.dataset.shards[s].arrays
            fi = self.frame_start[ep[sel]] + t[sel]
            order = np.argsort(fi)  # sorted reads are kinder to the page cache
            a[sel[order]] = arrays["frames"][fi[order]]
            b[sel[order]] = arrays["frames"][fi[order] + 1]
            act[sel] = arrays["actions"][self.step_start[ep[sel]] + t[sel]]
        return a, b, act

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` pairs drawn uniformly with replacement."""
        return self.gather(rng.integers(0, len(self), size=n))

    def actions(self) -> np.ndarray:
        """All action ids of the split (cheap: actions are a few bytes per step)."""
        out = [
            np.asarray(self.dataset.shards[s].arrays["actions"][st : st + n])
            for s, st, n in zip(self.shard, self.step_start, self.ends - self.starts, strict=True)
        ]
        return np.concatenate(out) if out else np.zeros(0, np.int64)


def train_idm(
    dataset: Dataset,
    steps: int = 2000,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "auto",
    progress: bool = True,
    channels: tuple[int, ...] | None = None,
    val_pairs: int = 4096,
    time_limit_s: float | None = None,
) -> tuple[InverseDynamics, dict[str, Any]]:
    """Train an :class:`InverseDynamics` model on random consecutive frame pairs of the train split.

    Args:
        dataset: Recorded dataset; the train split trains, the val split measures.
        steps: Optimizer steps (AdamW, 5% warmup, cosine decay to 10% of ``lr``).
        batch_size: Pairs per step.
        lr: Peak learning rate.
        seed: Seeds sampling and initialisation.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        progress: Show a tqdm bar.
        channels: Conv stage widths (default :class:`IDMConfig`'s); smaller is faster on a CPU.
        val_pairs: Validation pairs measured (all of them when the val split has fewer).
        time_limit_s: Stop early after this many seconds of training (``metrics["steps"]`` says how many ran).

    Returns:
        ``(model, metrics)``; metrics (JSON-able) hold ``val_accuracy``, ``val_loss``, the baselines
        ``majority_baseline`` (always guess the most frequent *val* action: the best any constant guess can
        score, so the bar to beat), ``train_majority_baseline`` (always guess the most frequent train action)
        and ``chance`` (1 / actions),
        ``per_action_val_recall``, ``val_confusion`` (rows: true action, columns: predicted), the final
        ``train_loss`` / ``train_accuracy`` (mean over the last 10% of steps) and timing.

    Raises:
        DatasetError: if the train or val split has no transitions.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    train, val = PairSampler(dataset, "train"), PairSampler(dataset, "val")
    for name, sampler in (("train", train), ("val", val)):
        if len(sampler) == 0:
            raise DatasetError(f"{dataset.root}: the {name} split has no transitions; collect more episodes")
    schema = dataset.schema
    n_act = len(schema)
    h, w = dataset.resolution
    config = IDMConfig(height=h, width=w, num_actions=n_act, **({"channels": tuple(channels)} if channels else {}))
    dev = resolve_device(device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = InverseDynamics(config, schema).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = max(1, steps // 20)
    params = list(model.parameters())

    def one_step(step: int) -> dict[str, torch.Tensor]:
        a, b, act = train.sample(rng, batch_size)
        ok = (act >= 0) & (act < n_act)  # imported data may mark unknown actions with -1
        if not ok.any():
            return {}
        a_t = torch.from_numpy(a[ok]).to(dev, non_blocking=True)
        b_t = torch.from_numpy(b[ok]).to(dev, non_blocking=True)
        y = torch.from_numpy(act[ok]).to(dev)
        logits = model(a_t, b_t)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return {"loss": loss.detach(), "accuracy": (logits.argmax(-1) == y).float().mean().detach()}

    def out_of_time(signalled: bool, _done: int, seconds: float) -> bool:
        if time_limit_s is not None and seconds > time_limit_s:
            log.info("IDM training stopped by the time limit after %d of %d steps", _done, steps)
            return True
        return signalled

    model.train()
    result = fit(
        one_step, start=0, total=steps, name="idm", opt=opt, lr=lambda s: cosine_lr(s, lr, warmup, steps, 0.1),
        log_every=max(1, steps // 10), stop_rule=out_of_time, samples_per_step=batch_size, progress=progress,
        postfix=("loss", "accuracy"),
    )  # fmt: skip
    done, train_seconds = result.step, result.seconds
    metrics = evaluate_idm(model, train, val, val_pairs, seed)
    metrics.update(
        steps=done,
        planned_steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=str(dev),
        train_seconds=round(train_seconds, 2),
        train_loss=float(result.last.get("loss", float("nan"))),  # the mean over the last tenth of the steps
        train_accuracy=float(result.last.get("accuracy", float("nan"))),
        train_pairs_available=len(train),
    )
    log.info(
        "IDM: val accuracy %.3f (majority baseline %.3f, chance %.3f) after %d steps",
        metrics["val_accuracy"],
        metrics["majority_baseline"],
        metrics["chance"],
        done,
    )
    return model, metrics


def evaluate_idm(
    model: InverseDynamics, train: PairSampler, val: PairSampler, val_pairs: int = 4096, seed: int = 0
) -> dict[str, Any]:
    """Validation accuracy, loss, confusion and baselines of ``model`` (see :func:`train_idm`)."""
    schema_names = model.schema.names if model.schema is not None else [str(i) for i in range(model.config.num_actions)]
    n_act = model.config.num_actions
    rng = np.random.default_rng(seed + 1)
    ks = np.arange(len(val)) if len(val) <= val_pairs else np.sort(rng.choice(len(val), val_pairs, replace=False))
    a, b, act = val.gather(ks)
    ok = (act >= 0) & (act < n_act)
    a, b, act = a[ok], b[ok], act[ok]
    logits = model.predict_logits(a, b)
    pred = logits.argmax(-1)
    val_loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(act)).item()) if len(act) else math.nan
    train_actions = train.actions()
    train_counts = np.bincount(train_actions[(train_actions >= 0) & (train_actions < n_act)], minlength=n_act)
    train_majority = int(train_counts.argmax())
    confusion = np.zeros((n_act, n_act), np.int64)
    np.add.at(confusion, (act, pred), 1)
    support = confusion.sum(1)
    majority = int(support.argmax())
    recall = {
        name: (float(confusion[i, i] / support[i]) if support[i] else None) for i, name in enumerate(schema_names)
    }
    return {
        "val_accuracy": float(np.mean(pred == act)) if len(act) else math.nan,
        "val_loss": val_loss,
        "val_pairs": len(act),
        "majority_action": schema_names[majority],
        "majority_baseline": float(np.mean(act == majority)) if len(act) else math.nan,
        "train_majority_action": schema_names[train_majority],
        "train_majority_baseline": float(np.mean(act == train_majority)) if len(act) else math.nan,
        "chance": 1.0 / n_act,
        "per_action_val_recall": recall,
        "val_action_counts": dict(zip(schema_names, support.tolist(), strict=True)),
        "train_action_counts": dict(zip(schema_names, train_counts.tolist(), strict=True)),
        "val_confusion": confusion.tolist(),
    }
