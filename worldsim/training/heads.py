"""Training a world's reward and termination heads: ``worldsim heads``.

In the dynamics trainer the heads learn beside the flow-matching loss, on frames at every noise level
(weighted by ``1 - t``), and the reward head regresses one number. Sparse events lose twice there: the head
mostly sees noisy frames, where a broken brick cannot be seen, and a mean-squared-error head that is unsure
predicts a small constant (an event of size v that happens with probability p costs it ``2p(1-p)v`` of mean
absolute error, more than predicting 0 costs for p < 1/2). On held-out episodes all three shipped heads were
worse than predicting 0.

This stage freezes the world (codec and transformer) and trains new heads on what they read at inference: real
frames noised once to the sampler's context level, as the commit pass sees each finished frame. The reward head
becomes distributional (``DynamicsConfig.reward_bins``: two-hot cross-entropy over symlog-spaced values, mean
reported). Terminations are rarer still (a highway crash is one frame in about 150, and only the last window of an
episode holds it), so a share ``term_share`` of every batch is windows that end in one; the termination logit is
then shifted back by the log-odds that oversampling added, so that its probability stays calibrated and the 0.5
threshold of the Gym env means what it says. Nothing else changes: frames, speed and the world's sampling are the
same.

Files in the run directory:
    heads_state.safetensors  train state (head weights, optimizer, step), rewritten every ``ckpt_every`` steps.
    heads_metrics.csv        one row per log/eval step.
    world.safetensors        the input world with the new heads (written at the end).
    heads_eval.json          reward and termination scores of the old and new heads (see :func:`score_heads`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from worldsim.config import to_dict
from worldsim.data.dataset import Dataset
from worldsim.device import resolve_device, torch_threads
from worldsim.errors import CheckpointError, DatasetError
from worldsim.io import atomic_write_json, remove_stale_temp_files
from worldsim.metrics import reward_scores, termination_scores
from worldsim.model.dynamics import DynamicsTransformer
from worldsim.runtime import fast_bf16
from worldsim.training.latents import codec_digest, dataset_latents
from worldsim.training.logger import MetricsLog
from worldsim.training.loop import cosine_lr, fit
from worldsim.training.objective import reward_loss
from worldsim.training.state import TrainState
from worldsim.training.windows import WindowBatcher, read_window, stack_windows
from worldsim.world_model import WorldModel

log = logging.getLogger(__name__)

STATE_FILE = "heads_state.safetensors"
WORLD_FILE = "world.safetensors"
METRICS_FILE = "heads_metrics.csv"
EVAL_FILE = "heads_eval.json"
METRIC_COLUMNS = ("step", "loss", "reward", "term", "val_reward_mae", "val_term_recall", "lr", "grad_norm",
                  "samples_per_s", "train_seconds")  # fmt: skip


@dataclass(frozen=True)
class HeadsConfig:
    """Settings of a heads training run.

    Attributes:
        world: World file whose heads are retrained.
        data: The world's dataset (any dataset of its actions; its ``train`` split trains, ``val`` validates).
        out: Run directory.
        eval_data: Optional dataset of fresh episodes (simulator seeds never trained on): the old and the new
            heads are scored on all of its episodes for ``heads_eval.json``.
        steps: Total optimizer steps.
        batch_size: Windows per step.
        lr: Peak AdamW learning rate (warm-up, then cosine decay to ``lr * min_lr_ratio``).
        min_lr_ratio: Final learning rate as a fraction of ``lr``.
        warmup_steps: Linear warm-up steps.
        grad_clip: Maximum global gradient norm.
        reward_bins: Values of the distributional reward head (odd; see ``DynamicsConfig.reward_bins``).
        term_share: Share of every batch drawn from windows that end in a termination (0 = uniform windows only);
            their frames train the termination head only, and its logit is corrected for the oversampling.
        log_every: Steps between metric rows.
        eval_every: Steps between validation scores.
        ckpt_every: Steps between train-state checkpoints.
        seed: Seed of the initialisation and of every batch.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        threads: CPU threads for torch (0 keeps torch's default).
        bf16: Run the frozen world under bf16 autocast where the hardware has bf16 matrix units (AMX, CUDA).
    """

    world: str = "runs/carracing/student/world.safetensors"
    data: str = "data/carracing"
    out: str = "runs/heads"
    eval_data: str = ""
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    grad_clip: float = 1.0
    reward_bins: int = 63
    term_share: float = 0.25
    log_every: int = 50
    eval_every: int = 500
    ckpt_every: int = 250
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    bf16: bool = True

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1:
            raise ValueError("steps >= 0 and batch_size >= 1 are required")
        if self.reward_bins < 3 or self.reward_bins % 2 == 0:
            raise ValueError(f"reward_bins must be odd and >= 3, got {self.reward_bins}")
        if not 0.0 <= self.term_share < 1.0:
            raise ValueError(f"term_share must be in [0, 1), got {self.term_share}")
        if min(self.log_every, self.eval_every, self.ckpt_every) < 1:
            raise ValueError("log_every, eval_every and ckpt_every must be >= 1")


def train_heads(cfg: HeadsConfig, progress: bool = True, stop_at: int | None = None) -> dict[str, Any]:
    """Train (or resume) new reward and termination heads for ``cfg.world`` (module docstring).

    Returns:
        ``heads_eval.json``'s content plus the path ``world_file``; after ``stop_at``, what is known so far.

    Raises:
        CheckpointError: The world file is missing or corrupt, or the run directory holds another world's run.
        DatasetError: A dataset is missing or records other actions than the world's.
    """
    with torch_threads(cfg.threads):
        return _train(cfg, progress, stop_at)


def reward_limit(ds: Dataset) -> float:
    """Largest reward magnitude of ``ds``'s training episodes (at least 1e-3), the head's ``reward_limit``."""
    largest = 0.0
    for i in ds.split("train"):
        ref = ds.episodes[i]
        shard = ds.shards[ref.shard]
        s0, s1 = int(shard.step_starts[ref.index]), int(shard.step_starts[ref.index + 1])
        if s1 > s0:
            largest = max(largest, float(np.abs(np.asarray(shard.arrays["rewards"][s0:s1])).max()))
    return max(largest, 1e-3)


def _open_dataset(path: str, world: WorldModel, world_path: str) -> Dataset:
    ds = Dataset(path)
    if ds.schema.fingerprint != world.schema.fingerprint:
        raise DatasetError(f"{path} records {ds.schema.world} actions, not those of {world_path}; use its dataset")
    return ds


def _train(cfg: HeadsConfig, progress: bool, stop_at: int | None) -> dict[str, Any]:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out)
    device = resolve_device(cfg.device)
    world = WorldModel.load(cfg.world, device)
    ds = _open_dataset(cfg.data, world, cfg.world)
    old = world.dynamics
    new_cfg = dataclasses.replace(old.cfg, reward_bins=cfg.reward_bins, reward_limit=reward_limit(ds))
    torch.manual_seed(cfg.seed)
    model = DynamicsTransformer(new_cfg).to(device)
    trunk = {k: v for k, v in old.state_dict().items() if not k.startswith("heads.")}
    missing, unexpected = model.load_state_dict(trunk, strict=False)
    if unexpected or any(not k.startswith("heads.") for k in missing):
        raise CheckpointError(f"{cfg.world}: its transformer does not fit its own config; use another copy")
    model.requires_grad_(False).eval()
    model.heads.requires_grad_(True).train()
    bf16 = cfg.bf16 and fast_bf16(device)

    latents = dataset_latents(ds, world.codec, progress=progress)
    length, null = new_cfg.context_frames, new_cfg.null_action
    train = WindowBatcher(ds, latents, length, null, "train", boxes=False)
    tau = float(world.sampling.context_noise)

    opt = torch.optim.AdamW(model.heads.parameters(), lr=cfg.lr, weight_decay=0.0, betas=(0.9, 0.99))
    state = TrainState(
        out / STATE_FILE, model.heads, opt, "heads.", "heads_config", to_dict(cfg), {"eval_data"}, _world_digest(world)
    )
    step, train_seconds = state.resume(cfg.steps)
    metrics = MetricsLog(out / METRICS_FILE, step, METRIC_COLUMNS)
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)

    ends = terminal_windows(ds, train.episodes, length)
    n_end = round(cfg.term_share * cfg.batch_size) if ends else 0
    shift = oversampling_shift(ds, train.episodes, len(ends), n_end, cfg.batch_size, length)

    def one_step(s: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([cfg.seed, s])
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        b = train.sample(rng, cfg.batch_size - n_end)
        reward_mask = b.has_action
        if n_end:  # windows that end in a termination train that head only
            picked = [
                read_window(ds, latents, *ends[i], length, null, boxes=False) for i in rng.integers(0, len(ends), n_end)
            ]
            end_batch = stack_windows(picked)
            b = b.cat(end_batch)
            reward_mask = torch.cat([reward_mask, torch.zeros_like(end_batch.has_action)])
        b = b.to(device)
        reward_mask = reward_mask.to(device)
        x = (1 - tau) * b.latents + tau * torch.randn(b.latents.shape, generator=gen).to(device)
        t = torch.full(b.actions.shape, tau, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            heads_out = model(x, t, b.actions)
        reward = reward_loss(heads_out, b.rewards, reward_mask, new_cfg.reward_limit)
        bce = F.binary_cross_entropy_with_logits(heads_out["term_logit"].float(), b.terminated, reduction="none")
        term = (bce * b.has_action).sum() / b.has_action.sum().clamp(min=1)
        loss = reward + term
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.heads.parameters(), cfg.grad_clip)
        opt.step()
        return {"loss": loss.detach(), "reward": reward.detach(), "term": term.detach(), "grad_norm": grad_norm}

    def validate(s: int) -> dict[str, float]:
        model.heads.eval()
        with term_bias_shifted(model, -shift):
            sc = score_heads(model, ds, latents, tau, split="val", bf16=bf16)
        model.heads.train()
        return {"val_reward_mae": sc["reward"]["mae"], "val_term_recall": sc["termination"]["recall"]}

    result = fit(
        one_step, start=step, total=cfg.steps, end=end, name="heads", opt=opt,
        lr=lambda s: cosine_lr(s, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio),
        seconds=train_seconds, log_every=cfg.log_every, ckpt_every=cfg.ckpt_every, hooks=[(cfg.eval_every, validate)],
        save=state.save, log=lambda s, row: metrics.append(row), samples_per_step=cfg.batch_size,
        progress=progress, postfix=("loss", "val_reward_mae"), last=dict(metrics.last),
    )  # fmt: skip
    if result.stopped:
        log.info("stopped at step %d of %d; re-run the same command to continue", result.step, cfg.steps)
        return {**result.last, "step": result.step, "train_seconds": result.seconds, "stopped": True}

    model.eval()
    shift_term_bias(model, -shift)  # the shipped head: calibrated for uniform frames, not the oversampled batches
    scores: dict[str, Any] = {"val": {"data": str(ds.root), "old": score_heads(old, ds, latents, tau, "val", bf16),
                                      "new": score_heads(model, ds, latents, tau, "val", bf16)}}  # fmt: skip
    if cfg.eval_data:
        fresh = _open_dataset(cfg.eval_data, world, cfg.world)
        fresh_latents = dataset_latents(fresh, world.codec, progress=progress)
        scores["fresh"] = {
            "data": str(fresh.root),
            "old": score_heads(old, fresh, fresh_latents, tau, "all", bf16),
            "new": score_heads(model, fresh, fresh_latents, tau, "all", bf16),
        }
    world.dynamics = model.requires_grad_(False)
    info = {"steps": cfg.steps, "train_seconds": round(result.seconds, 1), "data": str(ds.root),
            "reward_bins": cfg.reward_bins, "reward_limit": new_cfg.reward_limit,
            "term_share": cfg.term_share, "term_logit_shift": round(-shift, 4)}  # fmt: skip
    world.save(out / WORLD_FILE, heads=info)
    summary = {**info, "scores": scores, "world": ds.world, "source": str(cfg.world)}
    atomic_write_json(out / EVAL_FILE, summary)
    return {**summary, "world_file": str(out / WORLD_FILE)}


def terminal_windows(ds: Dataset, episodes: list[int], length: int) -> list[tuple[int, int]]:
    """``(episode, start)`` of the window of ``length`` frames that ends on each of ``episodes``' terminal frame."""
    out = []
    for e in episodes:
        ref = ds.episodes[e]
        shard = ds.shards[ref.shard]
        last = int(shard.step_starts[ref.index + 1]) - 1
        if ref.num_steps + 1 >= length and ref.num_steps > 0 and bool(shard.arrays["terminated"][last]):
            out.append((e, ref.num_steps + 1 - length))
    return out


def oversampling_shift(ds: Dataset, episodes: list[int], ends: int, n_end: int, batch: int, length: int) -> float:
    """Log-odds a terminal frame gains when ``n_end`` of ``batch`` windows end in one (0 when none are added).

    Uniform windows show a terminal frame at rate ``p`` (terminal frames over frames with a step); the mixed batch
    at ``q = (n_end + (batch - n_end) * length * p) / (batch * length)``. Subtracting ``logit(q) - logit(p)`` from
    the trained logit gives the probability under uniform frames (prior correction).
    """
    if not n_end or not ends:
        return 0.0
    steps = sum(ds.episodes[e].num_steps for e in episodes)
    p = ends / max(steps, 1)
    q = (n_end + (batch - n_end) * length * p) / (batch * length)
    return math.log(q / (1 - q)) - math.log(p / (1 - p))


def shift_term_bias(model: DynamicsTransformer, delta: float) -> None:
    """Add ``delta`` to the termination logit of ``model``'s heads (its output layer's bias)."""
    with torch.no_grad():
        model.heads.net[-1].bias[-1] += delta


@contextmanager
def term_bias_shifted(model: DynamicsTransformer, delta: float) -> Iterator[None]:
    """The termination logit shifted by ``delta`` inside the block, restored after."""
    shift_term_bias(model, delta)
    try:
        yield
    finally:
        shift_term_bias(model, -delta)


def _world_digest(world: WorldModel) -> str:
    """What the heads depend on: the codec (its latents) and the transformer's trunk."""
    h = hashlib.sha256(codec_digest(world.codec).encode())
    for k, v in sorted(world.dynamics.state_dict().items()):
        if not k.startswith("heads."):
            h.update(k.encode())
            h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def score_heads(
    model: DynamicsTransformer,
    ds: Dataset,
    latents: list[np.ndarray],
    tau: float,
    split: str = "val",
    bf16: bool = False,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Reward and termination scores of ``model``'s heads on every step of ``split``'s episodes (``all``: both).

    Each frame is read as the commit pass reads it: real frames noised once to ``tau``, with the frames before it
    (up to the model's context) as context. Returns ``reward`` (:func:`~worldsim.eval.report.reward_scores`),
    ``termination`` (:func:`~worldsim.eval.report.termination_scores`) and ``steps``.
    """
    cfg = model.cfg
    length, null = cfg.context_frames, cfg.null_action
    episodes = [*ds.split("train"), *ds.split("val")] if split == "all" else ds.split(split)  # type: ignore[arg-type]
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    # (window, which frames of it to read): an episode's first window reads all its frames, later ones the last.
    jobs: list[tuple[tuple[np.ndarray, ...], slice]] = []
    for e in episodes:
        n = ds.episodes[e].num_steps + 1
        first = min(n, length)
        jobs.append((read_window(ds, latents, e, 0, first, null, boxes=False), slice(1, first)))
        last = slice(length - 1, length)
        jobs += [(read_window(ds, latents, e, s, length, null, boxes=False), last) for s in range(1, n - length + 1)]
    batches = []
    for _, same in itertools.groupby(sorted(jobs, key=_frames), key=_frames):  # a batch: one window length
        same = list(same)
        batches += [same[i : i + batch_size] for i in range(0, len(same), batch_size)]
    pred_r, real_r, prob, real_d = [], [], [], []
    for chunk in batches:
        z = torch.from_numpy(np.stack([w[0] for w, _ in chunk])).to(device)
        a = torch.from_numpy(np.stack([w[1] for w, _ in chunk]).astype(np.int64)).to(device)
        x = (1 - tau) * z + tau * torch.randn(z.shape, generator=gen).to(device)
        t = torch.full(a.shape, tau, device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x, t, a)
        r, p = out["reward"].float().cpu().numpy(), torch.sigmoid(out["term_logit"].float()).cpu().numpy()
        for j, (w, sl) in enumerate(chunk):
            pred_r.append(r[j, sl])
            prob.append(p[j, sl])
            real_r.append(w[2][sl])
            real_d.append(w[3][sl])
    if not pred_r:
        raise DatasetError(f"{ds.root}: no {split} episode to score the heads on")
    pred, real = np.concatenate(pred_r), np.concatenate(real_r)
    return {
        "reward": reward_scores(pred, real),
        "termination": termination_scores(np.concatenate(prob), np.concatenate(real_d)),
        "steps": len(pred),
        "episodes": len(episodes),
    }


def _frames(job: tuple[tuple[np.ndarray, ...], slice]) -> int:
    return len(job[0][0])
