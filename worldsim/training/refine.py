"""Training a world's codec refiner: ``worldsim refine``.

A trained world decodes each frame from its latent alone, which caps the sharpness of everything it shows (a
64x64 frame through an 8x8x8 latent stays near 29 dB even when the latent is perfect, while consecutive real
frames often differ by less than that). The :class:`~worldsim.codec.autoencoder.Refiner` adds the previous
frame as a second input. Only the refiner is trained here; the encoder, decoder and dynamics are frozen, so
the world's latents (and its cached dataset encodings) stay valid and no dynamics retraining is needed.

Training pairs are a frame ``t`` with its real latent and a previous frame that is, for a ``self_prev``
fraction of samples, the refiner's own output for ``t - 1`` (decoded from the latent of ``t - 1`` after the
real ``t - 2``) instead of the real frame: in a rollout the previous frame is always a decoded one, and a
refiner that only ever saw real previous frames would copy their detail too trustingly. A refiner with
``history`` k > 1 also sees the frames ``t - 2 .. t - k``; with ``self_chain`` n, a ``self_prev`` sample's
previous frames are the refiner's own, decoded n in a row after real ones.

Files in the run directory:
    refine_state.safetensors  train state (refiner weights, optimizer, step), rewritten every ``ckpt_every`` steps.
    refine_metrics.csv        one row per log/eval step.
    world.safetensors         the input world with the refined codec (written at the end).
    refine_eval.json          PSNR of plain decoding, refined decoding and copy-last on validation windows.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsim.codec.autoencoder import FrameCodec, psnr, time_codec, to_model, to_uint8
from worldsim.codec.loss import check_region, check_sprites, frame_weights, pixel_weights, reconstruction_loss
from worldsim.config import to_dict
from worldsim.data.dataset import Dataset
from worldsim.data.frames import FrameSampler
from worldsim.device import resolve_device, torch_threads
from worldsim.errors import DatasetError
from worldsim.io import atomic_write_json, remove_stale_temp_files
from worldsim.training.codec import param_groups, psnr_of_mse
from worldsim.training.latents import codec_digest, dataset_latents
from worldsim.training.logger import MetricsLog
from worldsim.training.loop import cosine_lr, fit
from worldsim.training.state import TrainState
from worldsim.world_model import WorldModel

log = logging.getLogger(__name__)

STATE_FILE = "refine_state.safetensors"
WORLD_FILE = "world.safetensors"
METRICS_FILE = "refine_metrics.csv"
EVAL_FILE = "refine_eval.json"
METRIC_COLUMNS = ("step", "loss", "train_psnr", "val_psnr", "val_psnr_plain", "lr", "grad_norm", "samples_per_s",
                  "train_seconds")  # fmt: skip


@dataclass(frozen=True)
class RefineConfig:
    """Settings of a refiner training run.

    Attributes:
        world: World file whose codec gets the refiner.
        data: The world's dataset (the one its codec and dynamics were trained on).
        out: Run directory.
        steps: Total optimizer steps.
        batch_size: Frames per step.
        lr: Peak AdamW learning rate (warm-up, then cosine decay to ``lr * min_lr_ratio``).
        min_lr_ratio: Final learning rate as a fraction of ``lr``.
        warmup_steps: Linear warm-up steps.
        weight_decay: AdamW weight decay of convolution weights.
        grad_clip: Maximum global gradient norm.
        channels: Refiner width at half resolution (``CodecConfig.refiner_channels``).
        blocks: Refiner residual blocks per resolution.
        gate: Let the refiner copy unchanged pixels of the previous frame exactly (``CodecConfig.refiner_gate``).
        self_prev: Fraction of samples whose previous frame is the refiner's own decoding (see the module doc).
        history: Frames shown before the current one that the refiner sees (``CodecConfig.refiner_history``).
        self_chain: Frames the refiner decodes one after another (from real frames before them) to make the
            previous frames of a ``self_prev`` sample. 1 makes only ``t - 1`` its own; more shows it the residue
            its own outputs leave, which a rollout feeds back frame after frame.
        region: ``(top, bottom, left, right)`` fractions of the frame weighted ``region_weight`` times more in the
            loss (see :mod:`worldsim.codec.loss`; use the codec's recipe); empty = all pixels alike.
        region_weight: Loss weight of ``region`` relative to the rest of the frame.
        sprite_weight: Loss weight of pixels that differ from the dataset's background by ``sprite_threshold``
            grey levels or more (see :mod:`worldsim.codec.loss`; use the codec's recipe); 1 = off.
        sprite_threshold: Grey levels from the background that make a pixel a sprite pixel.
        motion_weight: Loss weight of pixels that changed since the real previous frame by ``motion_threshold``
            grey levels or more (see :mod:`worldsim.codec.loss`; use the codec's recipe); 1 = off.
        motion_threshold: Grey levels of change that make a pixel a moving pixel.
        log_every: Steps between metric rows.
        eval_every: Steps between validation evaluations.
        ckpt_every: Steps between train-state checkpoints.
        eval_windows: Validation windows of ``eval_length`` frames, decoded in a chain as a rollout would.
        eval_length: Frames per validation window (the first, real, is the chain's start).
        seed: Seed of the initialisation and of every batch.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        threads: CPU threads for torch (0 keeps torch's default).
    """

    world: str = "runs/carracing-student/world.safetensors"
    data: str = "data/carracing"
    out: str = "runs/refine"
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    channels: int = 32
    blocks: int = 2
    gate: bool = True
    self_prev: float = 0.5
    history: int = 1
    self_chain: int = 1
    region: tuple[float, ...] = ()
    region_weight: float = 1.0
    sprite_weight: float = 1.0
    sprite_threshold: float = 30.0
    motion_weight: float = 1.0
    motion_threshold: float = 30.0
    log_every: int = 50
    eval_every: int = 500
    ckpt_every: int = 250
    eval_windows: int = 32
    eval_length: int = 16
    seed: int = 0
    device: str = "auto"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1 or self.channels < 1 or self.blocks < 0:
            raise ValueError("steps >= 0, batch_size >= 1, channels >= 1 and blocks >= 0 are required")
        if self.self_chain < 1:
            raise ValueError(f"self_chain must be >= 1, got {self.self_chain}")
        if self.history < 1:
            raise ValueError(f"history must be >= 1, got {self.history}")
        if not 0.0 <= self.self_prev <= 1.0:
            raise ValueError(f"self_prev must be in [0, 1], got {self.self_prev}")
        check_region(self.region, self.region_weight)
        check_sprites(self.sprite_weight, self.sprite_threshold)
        check_sprites(self.motion_weight, self.motion_threshold, "motion")
        if min(self.log_every, self.eval_every, self.ckpt_every, self.eval_windows) < 1 or self.eval_length < 2:
            raise ValueError("log_every, eval_every, ckpt_every, eval_windows >= 1 and eval_length >= 2 are required")


class FrameHistory:
    """Frames ``t - n .. t`` of one split and their latents, read from memory-mapped shards."""

    def __init__(self, ds: Dataset, latents: list[np.ndarray], split: str, min_history: int = 2) -> None:
        self.min_history = min_history
        self.ds, self.latents = ds, latents
        shards, rows = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        self.episodes: list[tuple[int, int, int]] = []  # (shard, first row, end row) of each episode
        for i in ds.split(split):  # type: ignore[arg-type]
            ref = ds.episodes[i]
            starts = ds.shards[ref.shard].frame_starts
            f0, f1 = int(starts[ref.index]), int(starts[ref.index + 1])
            self.episodes.append((ref.shard, f0, f1))
            if f1 - f0 > min_history:
                shards.append(np.full(f1 - f0 - min_history, ref.shard, np.int64))
                rows.append(np.arange(f0 + min_history, f1, dtype=np.int64))
        self.shard, self.row = np.concatenate(shards), np.concatenate(rows)

    def __len__(self) -> int:
        return len(self.row)

    def take(self, shard: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 frames ``(N, H, W, 3)`` and float32 latents ``(N, C, h, w)`` at ``(shard, row)``."""
        return self.frames(shard, row), self.latents_at(shard, row)

    def frames(self, shard: np.ndarray, row: np.ndarray) -> np.ndarray:
        """uint8 frames ``(N, H, W, 3)`` at ``(shard, row)``."""
        return np.stack([self.ds.shards[int(s)].arrays["frames"][int(r)] for s, r in zip(shard, row, strict=True)])

    def latents_at(self, shard: np.ndarray, row: np.ndarray) -> np.ndarray:
        """float32 latents ``(N, C, h, w)`` at ``(shard, row)``."""
        return np.stack([self.latents[int(s)][int(r)] for s, r in zip(shard, row, strict=True)]).astype(np.float32)

    def sample(self, rng: np.random.Generator, n: int, latents: int = 2) -> dict[str, np.ndarray]:
        """``n`` random samples: frames ``x`` and the latents ``z`` of their last ``latents`` frames.

        ``x`` is ``(n, 1 + min_history, H, W, 3)``: frames ``t, t - 1, ..., t - min_history``, most recent first;
        ``z`` is ``(n, latents, C, h, w)``: latents of ``t, t - 1, ...``.
        """
        i = rng.integers(0, len(self), n)
        s, r = self.shard[i], self.row[i]
        x = np.stack([self.frames(s, r - j) for j in range(self.min_history + 1)], 1)
        return {"x": x, "z": np.stack([self.latents_at(s, r - j) for j in range(latents)], 1)}

    def windows(self, n: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` windows of ``length`` consecutive frames, spread over the split (deterministic)."""
        starts = [(s, r) for s, f0, f1 in self.episodes for r in range(f0, f1 - length + 1, length)]
        if not starts:
            raise DatasetError(f"{self.ds.root}: no episode has {length} frames for refiner validation")
        pick = np.unique(np.linspace(0, len(starts) - 1, min(n, len(starts))).round().astype(int))
        out = [self.take(np.full(length, starts[p][0]), np.arange(starts[p][1], starts[p][1] + length)) for p in pick]
        return np.stack([f for f, _ in out]), np.stack([z for _, z in out])


@torch.inference_mode()
def evaluate_chain(codec: FrameCodec, frames: np.ndarray, latents: np.ndarray) -> dict[str, float]:
    """PSNR of windows ``frames`` ``(N, L, H, W, 3)`` decoded from their real normalised ``latents`` in a chain.

    Frame 0 is given; every later frame is decoded after the ones decoded before it (``refined``), from its
    latent alone (``plain``), or replaced by the real frame before it (``copy_last``). ``refined_first`` is
    the first step only, whose previous frame is real (a refiner that sees more frames sees frame 0 repeated).
    """
    device = codec.latent_mean.device
    z = torch.as_tensor(latents, device=device)
    k = codec.config.refiner_history
    past = to_model(frames[:, 0]).to(device).repeat(1, k, 1, 1)  # shown frames, most recent first
    refined, plain = [], []
    for t in range(1, frames.shape[1]):
        x0 = codec.decode(z[:, t])
        plain.append(to_uint8(x0).cpu())
        shown = codec.decode(z[:, t], past) if codec.has_refiner else x0
        shown = to_model(to_uint8(shown)).to(device)  # what is displayed is rounded to uint8
        past = torch.cat([shown, past[:, :-3]], 1)
        refined.append(to_uint8(shown).cpu())
    real = frames[:, 1:]
    return {
        "refined": psnr(real, torch.stack(refined, 1)),
        "refined_first": psnr(real[:, 0], refined[0]),
        "plain": psnr(real, torch.stack(plain, 1)),
        "copy_last": psnr(real, frames[:, :-1]),
    }


def train_refiner(cfg: RefineConfig, progress: bool = True, stop_at: int | None = None) -> dict[str, Any]:
    """Train (or resume) a refiner for ``cfg.world``'s codec and write the world with it (module docstring).

    Returns:
        ``refine_eval.json``'s content plus the path ``world_file``; after ``stop_at``, what is known so far.

    Raises:
        CheckpointError: The world file is missing or corrupt, or the run directory holds another world's run.
        DatasetError: The dataset is missing or is not the world's.
    """
    with torch_threads(cfg.threads):
        return _train(cfg, progress, stop_at)


def _train(cfg: RefineConfig, progress: bool, stop_at: int | None) -> dict[str, Any]:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out)
    device = resolve_device(cfg.device)
    world = WorldModel.load(cfg.world, device)
    ds = Dataset(cfg.data)
    if ds.schema.fingerprint != world.schema.fingerprint:
        raise DatasetError(f"{cfg.data} records {ds.schema.world} actions, not those of {cfg.world}; use its dataset")
    base = world.codec
    codec_cfg = dataclasses.replace(
        base.config,
        refiner_channels=cfg.channels,
        refiner_blocks=cfg.blocks,
        refiner_gate=cfg.gate,
        refiner_history=cfg.history,
    )
    torch.manual_seed(cfg.seed)
    codec = FrameCodec(codec_cfg).to(device)
    state = {k: v for k, v in base.state_dict().items() if not k.startswith("refiner.")}
    codec.load_state_dict(state, strict=False)
    codec.requires_grad_(False).eval()
    assert codec.refiner is not None
    codec.refiner.requires_grad_(True).train()

    latents = dataset_latents(ds, base, progress=progress)
    need = cfg.history + cfg.self_chain
    train = FrameHistory(ds, latents, "train", need)
    if len(train) == 0:
        raise DatasetError(f"{ds.root}: no training episodes of {need + 1} or more frames")
    val = FrameHistory(ds, latents, "val", need)
    val = val if val.episodes else train
    val_frames, val_latents = val.windows(cfg.eval_windows, cfg.eval_length)

    opt = torch.optim.AdamW(param_groups(codec.refiner, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.99))
    state = TrainState(
        out / STATE_FILE, codec.refiner, opt, "refiner.", "refine_config", to_dict(cfg), {"eval_windows"},
        codec_digest(base),
    )  # fmt: skip
    step, train_seconds = state.resume(cfg.steps)
    metrics = MetricsLog(out / METRICS_FILE, step, METRIC_COLUMNS)
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)

    params = list(codec.refiner.parameters())
    weights = pixel_weights(codec.config.height, codec.config.width, cfg.region, cfg.region_weight, device)
    background = None
    if cfg.sprite_weight != 1:
        background = FrameSampler(ds, "train").background(4096).to(device)
    sprite, motion = (cfg.sprite_weight, cfg.sprite_threshold), (cfg.motion_weight, cfg.motion_threshold)

    def one_step(s: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([cfg.seed, s])
        b = train.sample(rng, cfg.batch_size, latents=1 + cfg.self_chain)
        x = to_model(b["x"]).to(device)  # (B, 1 + history + self_chain, 3, H, W): t, t - 1, ..., most recent first
        z = torch.as_tensor(b["z"], device=device)  # (B, 1 + self_chain, C, h, w): t, t - 1, ...
        x0, k, c = x[:, 0], cfg.history, cfg.self_chain
        with torch.no_grad():
            plain0 = codec.decode(z[:, 0])
            # What the refiner would have shown at t - c .. t - 1, decoded in a chain after real t - c - k .. t - c - 1.
            own = x[:, c + 1 : c + 1 + k].flatten(1, 2)
            for j in range(c, 0, -1):
                shown = to_model(to_uint8(codec.decode(z[:, j], own)))  # what is displayed is rounded to uint8
                own = torch.cat([shown.to(device), own[:, :-3]], 1)
            use_own = torch.as_tensor(rng.random(cfg.batch_size) < cfg.self_prev, device=device)
            prev = torch.where(use_own[:, None, None, None], own, x[:, 1 : 1 + k].flatten(1, 2))
        y = codec.refiner(plain0, prev)
        w = frame_weights(x0, weights, background, sprite, x[:, 1], motion)
        loss, mse, _ = reconstruction_loss(y, x0, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        return {"loss": loss.detach(), "mse": mse.detach(), "grad_norm": grad_norm}

    def validate(s: int) -> dict[str, float]:
        codec.refiner.eval()
        ev = evaluate_chain(codec, val_frames, val_latents)
        codec.refiner.train()
        return {"val_psnr": ev["refined"], "val_psnr_plain": ev["plain"]}

    result = fit(
        one_step, start=step, total=cfg.steps, end=end, name="refiner", opt=opt,
        lr=lambda s: cosine_lr(s, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio),
        seconds=train_seconds, log_every=cfg.log_every, ckpt_every=cfg.ckpt_every, hooks=[(cfg.eval_every, validate)],
        save=state.save, log=lambda s, row: metrics.append(row), derive=psnr_of_mse, samples_per_step=cfg.batch_size,
        progress=progress, postfix=("loss", "val_psnr"), last=dict(metrics.last),
    )  # fmt: skip
    if result.stopped:
        log.info("stopped at step %d of %d; re-run the same command to continue", result.step, cfg.steps)
        return {**result.last, "step": result.step, "train_seconds": result.seconds, "stopped": True}
    train_seconds = result.seconds

    codec.eval()
    ev = evaluate_chain(codec, val_frames, val_latents)
    speed = time_codec(copy.deepcopy(codec).cpu(), batch_size=1)
    world.codec = codec
    world.save(out / WORLD_FILE, refiner={
        "steps": cfg.steps, "train_seconds": round(train_seconds, 1), "val_psnr": ev["refined"],
        "val_psnr_plain": ev["plain"], "val_psnr_copy_last": ev["copy_last"], "data": str(ds.root),
    })  # fmt: skip
    result = {
        "step": cfg.steps, "val_psnr": ev, "val_windows": len(val_frames), "val_length": cfg.eval_length,
        "params": codec.num_params(), **speed, "train_seconds": round(train_seconds, 1), "world": ds.world,
        "source": str(cfg.world),
    }  # fmt: skip
    atomic_write_json(out / EVAL_FILE, result)
    return {**result, "world_file": str(out / WORLD_FILE)}
