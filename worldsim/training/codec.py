"""Training the frame codec on a recorded dataset: ``worldsim train-codec``.

Batches are random frames of the train split, read straight from the memory-mapped shards (the dataset is
never loaded into RAM). The loss is MSE + L1 on pixels in ``[-1, 1]`` (optionally weighting one frame region
more, see :mod:`worldsim.codec.loss`) plus a small L2 penalty on the raw latents. The batch of step ``s``
depends only on ``(seed, s)``, so on CPU a run is deterministic for a seed and dataset, and resuming from
``codec_state.safetensors`` gives bit-identical weights to an uninterrupted run (as long as the dataset has
not grown in between: new shards change which frames are drawn).

Files in the run directory:
    codec_state.safetensors  train state (weights, optimizer, step), rewritten every ``ckpt_every`` steps.
    codec_metrics.csv        one row per log/eval step; rows past the resumed step are dropped on resume.
    codec.safetensors        the final codec, with fitted latent statistics (written at the end).
    codec_eval.json          final validation PSNR and encode/decode speed.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldsim.codec.autoencoder import CodecConfig, FrameCodec, psnr, time_codec, to_model, to_uint8
from worldsim.codec.loss import (
    check_region,
    check_sprites,
    frame_weights,
    label_mask,
    pixel_weights,
    reconstruction_loss,
)
from worldsim.config import to_dict
from worldsim.data.dataset import Dataset
from worldsim.data.frames import FrameSampler
from worldsim.device import resolve_device, torch_threads
from worldsim.errors import ConfigError, DatasetError
from worldsim.io import atomic_write_json, remove_stale_temp_files
from worldsim.metrics import finite_mean, moving_recall
from worldsim.training.logger import MetricsLog
from worldsim.training.loop import cosine_lr, fit
from worldsim.training.state import TrainState

log = logging.getLogger(__name__)

STATE_FILE = "codec_state.safetensors"
CODEC_FILE = "codec.safetensors"
METRICS_FILE = "codec_metrics.csv"
EVAL_FILE = "codec_eval.json"
METRIC_COLUMNS = (
    "step",
    "loss",
    "mse",
    "l1",
    "latent_l2",
    "train_psnr",
    "val_psnr",
    "lr",
    "grad_norm",
    "samples_per_s",
    "train_seconds",
)


@dataclass(frozen=True)
class CodecTrainConfig:
    """Settings of a codec training run.

    Attributes:
        data: Dataset directory (see ``worldsim collect``).
        out: Run directory for the state, metrics and the final codec.
        steps: Total optimizer steps (a resumed run continues up to this count).
        batch_size: Frames per step.
        lr: Peak AdamW learning rate (linear warm-up, then cosine decay to ``lr * min_lr_ratio``).
        min_lr_ratio: Final learning rate as a fraction of ``lr``.
        warmup_steps: Linear warm-up steps.
        weight_decay: AdamW weight decay of convolution weights (norms and biases are not decayed).
        grad_clip: Maximum global gradient norm.
        mse_weight: Weight of the pixel MSE.
        l1_weight: Weight of the pixel L1 (sharper edges than MSE alone).
        latent_penalty: Weight of the mean squared raw latent; keeps the latent scale from drifting.
        region: ``(top, bottom, left, right)`` fractions of the frame whose pixels weigh ``region_weight`` times
            more in the loss (e.g. an instrument strip the actions show up in); empty = all pixels alike.
        region_weight: Loss weight of ``region`` relative to the rest of the frame.
        sprite_weight: Loss weight of pixels that differ from the dataset's background (per-pixel median of
            ``stats_frames`` training frames) by ``sprite_threshold`` grey levels or more; 1 = off. For small
            moving objects (a ball) that the plain mean lets the latent drop.
        sprite_threshold: Grey levels (largest channel) from the background that make a pixel a sprite pixel.
        motion_weight: Loss weight of pixels that changed since the episode's previous frame by
            ``motion_threshold`` grey levels or more; 1 = off. Aims at moving objects more closely than sprites.
        motion_threshold: Grey levels (largest channel) of change that make a pixel a moving pixel.
        label_weight: Loss weight of pixels inside the boxes the dataset's labels give each frame (Doom: monsters
            and projectiles); 1 = off. Needs a dataset recorded with labels.
        log_every: Steps between metric rows (and progress-bar updates).
        eval_every: Steps between validation-PSNR evaluations.
        ckpt_every: Steps between train-state checkpoints.
        eval_frames: Validation frames (evenly spread over the val split) for PSNR.
        stats_frames: Training frames (evenly spread) used to fit the latent mean/std at the end.
        seed: Seed of the initialisation and of every batch.
        device: ``auto`` (CUDA if available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``.
        threads: CPU threads for torch (0 keeps torch's default; 1 is fastest on a busy machine).
        codec: Codec architecture; ``height``/``width`` follow the dataset unless set to something else.
    """

    data: str = "data/carracing"
    out: str = "runs/codec"
    steps: int = 20_000
    batch_size: int = 64
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    mse_weight: float = 1.0
    l1_weight: float = 1.0
    latent_penalty: float = 1e-4
    region: tuple[float, ...] = ()
    region_weight: float = 1.0
    sprite_weight: float = 1.0
    sprite_threshold: float = 30.0
    motion_weight: float = 1.0
    motion_threshold: float = 30.0
    label_weight: float = 1.0
    log_every: int = 50
    eval_every: int = 1000
    ckpt_every: int = 500
    eval_frames: int = 512
    stats_frames: int = 4096
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    codec: CodecConfig = field(default_factory=CodecConfig)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "eval_every", "ckpt_every", "eval_frames", "stats_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"need lr > 0 and 0 <= min_lr_ratio <= 1, got {self.lr} and {self.min_lr_ratio}")
        if self.warmup_steps < 0 or self.threads < 0 or self.grad_clip <= 0:
            raise ValueError("warmup_steps and threads must be >= 0 and grad_clip > 0")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        check_region(self.region, self.region_weight)
        check_sprites(self.sprite_weight, self.sprite_threshold)
        check_sprites(self.motion_weight, self.motion_threshold, "motion")
        if self.label_weight <= 0:
            raise ValueError(f"label_weight must be > 0, got {self.label_weight}")


def psnr_of_mse(means: dict[str, float]) -> dict[str, float]:
    """Training PSNR of a log window from its mean MSE (pixels in [-1, 1], a range of 2)."""
    return {"train_psnr": 10 * math.log10(4.0 / max(means["mse"], 1e-12))}


@torch.inference_mode()
def round_trip(codec: FrameCodec, frames: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """``codec`` round trips (encode, decode) of uint8 ``frames`` ``[N, H, W, 3]``, as uint8 on the CPU, in fp32."""
    device = codec.latent_mean.device
    was_training = codec.training
    codec.eval()
    recon = []
    for i in range(0, len(frames), batch_size):
        x = to_model(frames[i : i + batch_size]).to(device)
        recon.append(to_uint8(codec.decode(codec.encode(x))).cpu())
    codec.train(was_training)
    return torch.cat(recon)


def evaluate_psnr(codec: FrameCodec, frames: np.ndarray, batch_size: int = 256) -> float:
    """PSNR (dB) of ``codec`` round trips of uint8 ``frames`` ``[N, H, W, 3]``, on uint8-rounded output."""
    return psnr(frames, round_trip(codec, frames, batch_size))


def codec_config_for(cfg: CodecConfig, ds: Dataset) -> CodecConfig:
    """``cfg`` at the dataset's resolution; an explicit other resolution is a :class:`ConfigError`."""
    h, w = ds.resolution
    if (cfg.height, cfg.width) == (h, w):
        return cfg
    default = CodecConfig()
    if (cfg.height, cfg.width) != (default.height, default.width):
        raise ConfigError(
            f"codec.height/width={cfg.height}x{cfg.width} but {ds.root} holds {h}x{w} frames; "
            "drop the codec.height/codec.width settings (they follow the dataset)"
        )
    try:
        return dataclasses.replace(cfg, height=h, width=w)
    except ValueError as e:
        raise ConfigError(f"{ds.root}: {h}x{w} frames do not fit the codec ({e})") from None


def _losses(
    model: FrameCodec, x: torch.Tensor, cfg: CodecTrainConfig, weights: torch.Tensor | None, use_bf16: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss, mse, l1, latent_l2)`` of reconstructing ``x`` ``(B, 3, H, W)``; the terms are computed in fp32.

    ``weights`` (see :func:`~worldsim.codec.loss.pixel_weights`) weigh the pixels of the loss; ``mse`` and ``l1``
    are reported unweighted.
    """
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=use_bf16):
        z = model.encode_raw(x)  # (B, C, h, w)
        y = model.decode_raw(z)  # (B, 3, H, W)
    y, z = y.float(), z.float()
    rec, mse, l1 = reconstruction_loss(y, x, weights, cfg.mse_weight, cfg.l1_weight)
    lat = z.pow(2).mean()
    return rec + cfg.latent_penalty * lat, mse, l1, lat


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups: convolution weights decayed, norms and biases not."""
    # Decaying GroupNorm scales and biases only fights the normalisation; decay convolution weights only.
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_codec(cfg: CodecTrainConfig, progress: bool = True, stop_at: int | None = None) -> dict[str, Any]:
    """Train (or resume) a frame codec; write the files listed in the module docstring.

    Args:
        cfg: Run settings.
        progress: Show a tqdm bar.
        stop_at: End this call once this step is reached, after saving the train state but without writing
            the final codec (for time-boxed sessions); re-running continues from there.

    Returns:
        Final metrics: ``step``, ``val_psnr``, ``loss``, ``train_psnr``, ``encode_ms``/``decode_ms`` (batch 1,
        CPU), ``train_seconds`` and the paths ``codec``/``eval``; after ``stop_at``, only what is known so far.

    Raises:
        DatasetError: The dataset is missing, unreadable or has no training frames.
        ConfigError: Bad settings, or ``out`` holds a run of another codec architecture.
    """
    with torch_threads(cfg.threads):
        return _train(cfg, progress, stop_at)


def _train(cfg: CodecTrainConfig, progress: bool, stop_at: int | None) -> dict[str, Any]:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out)
    ds = Dataset(cfg.data)
    train_frames = FrameSampler(ds, "train")
    if len(train_frames) == 0:
        raise DatasetError(f"{ds.root}: no training frames yet; record some with `worldsim collect` first")
    val_frames = FrameSampler(ds, "val")
    if len(val_frames) == 0:
        log.warning("%s has no validation episodes; validation PSNR is measured on training frames", ds.root)
        val_frames = train_frames
    val_index = val_frames.spread(cfg.eval_frames)
    val_set = val_frames.take(val_index)
    val_prev = val_frames.take(val_frames.previous(val_index))  # for the moving-pixel recall
    codec_cfg = codec_config_for(cfg.codec, ds)
    device = resolve_device(cfg.device)
    use_bf16 = device.type == "cuda"  # bf16 autocast on GPUs only: CPU bf16 convolutions are slow

    torch.manual_seed(cfg.seed)
    model = FrameCodec(codec_cfg).to(device)
    opt = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.99))
    state = TrainState(out / STATE_FILE, model, opt, "model.", "train_config", to_dict(cfg), {"eval_frames"})
    step, train_seconds = state.resume(cfg.steps)
    metrics = MetricsLog(out / METRICS_FILE, step, METRIC_COLUMNS)
    end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)

    def save_state(step: int, train_seconds: float) -> None:
        state.save(step, train_seconds, seed=cfg.seed, codec_config=to_dict(codec_cfg), world=ds.world)

    last: dict[str, Any] = dict(metrics.last)
    if step == 0 and end > 0:
        last = {"step": 0, "val_psnr": evaluate_psnr(model, val_set)}
        metrics.append(last)
    params = [p for g in opt.param_groups for p in g["params"]]
    weights = pixel_weights(codec_cfg.height, codec_cfg.width, cfg.region, cfg.region_weight, device)
    background = None
    if cfg.sprite_weight != 1:
        background = train_frames.background(cfg.stats_frames).to(device)
    sprite, motion = (cfg.sprite_weight, cfg.sprite_threshold), (cfg.motion_weight, cfg.motion_threshold)
    if cfg.label_weight != 1 and not train_frames.has_labels:
        raise DatasetError(
            f"{ds.root}: label_weight needs per-frame labels, which this dataset does not record; "
            "record it with a world that labels its frames (doom) or drop label_weight"
        )

    def one_step(s: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([cfg.seed, s])
        index = train_frames.draw(rng, cfg.batch_size)
        x = to_model(train_frames.take(index)).to(device)  # (B, 3, H, W)
        prev = None if cfg.motion_weight == 1 else to_model(train_frames.take(train_frames.previous(index))).to(device)
        boxes = (
            None if cfg.label_weight == 1 else label_mask(train_frames.labels(index), codec_cfg.height, codec_cfg.width)
        )
        w = frame_weights(x, weights, background, sprite, prev, motion, boxes, cfg.label_weight)
        loss, mse, l1, lat = _losses(model, x, cfg, w, use_bf16)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        return {"loss": loss.detach(), "mse": mse.detach(), "l1": l1.detach(), "latent_l2": lat.detach(),
                "grad_norm": grad_norm}  # fmt: skip

    def validate(s: int) -> dict[str, float]:
        return {"val_psnr": evaluate_psnr(model, val_set)}

    model.train()
    result = fit(
        one_step, start=step, total=cfg.steps, end=end, name="codec", opt=opt,
        lr=lambda s: cosine_lr(s, cfg.lr, cfg.warmup_steps, cfg.steps, cfg.min_lr_ratio),
        seconds=train_seconds, log_every=cfg.log_every, ckpt_every=cfg.ckpt_every, hooks=[(cfg.eval_every, validate)],
        save=save_state, log=lambda s, row: metrics.append(row), derive=psnr_of_mse, samples_per_step=cfg.batch_size,
        progress=progress, postfix=("loss", "train_psnr", "val_psnr", "samples_per_s"), last=last,
    )  # fmt: skip
    if result.stopped:
        log.info("stopped at step %d of %d; re-run the same command to continue", result.step, cfg.steps)
        return {**result.last, "step": result.step, "train_seconds": result.seconds, "stopped": True}
    last, train_seconds = result.last, result.seconds
    return _finish(cfg, ds, model, train_frames, val_set, val_prev, train_seconds, last)


def _finish(
    cfg: CodecTrainConfig,
    ds: Dataset,
    model: FrameCodec,
    train_frames: FrameSampler,
    val_set: np.ndarray,
    val_prev: np.ndarray,
    train_seconds: float,
    last: dict[str, Any],
) -> dict[str, Any]:
    """Fit latent statistics, evaluate, time, and write ``codec.safetensors`` and ``codec_eval.json``."""
    out = Path(cfg.out)
    stats_index = train_frames.spread(cfg.stats_frames)
    mean, std = model.fit_latent_stats(train_frames.batches(stats_index))
    recon = round_trip(model, val_set)
    val_psnr = psnr(val_set, recon)
    recall = finite_mean(moving_recall(recon.numpy(), val_set, val_prev))
    cpu_codec = copy.deepcopy(model).cpu()
    speed = time_codec(cpu_codec, batch_size=1)
    latent_shape = list(model.latent_shape)
    model.save(
        out / CODEC_FILE,
        world=ds.world,
        action_schema=ds.meta["action_schema"],
        val_psnr=val_psnr,
        steps=cfg.steps,
        data=str(ds.root),
        latent_shape=latent_shape,
        train_config=to_dict(cfg),
    )
    result = {
        "step": cfg.steps,
        "val_psnr": val_psnr,
        "val_frames": len(val_set),
        # share of the pixels that moved since the frame before that the round trip shows (worldsim eval's metric)
        "val_moving_recall": None if math.isnan(recall) else recall,
        "loss": last.get("loss"),
        "train_psnr": last.get("train_psnr"),
        **speed,
        "timing": {"device": "cpu", "batch_size": 1, "threads": torch.get_num_threads()},
        "params": model.num_params(),
        "latent_shape": latent_shape,
        "latent_mean": [round(v, 5) for v in mean.tolist()],
        "latent_std": [round(v, 5) for v in std.tolist()],
        "stats_frames": len(stats_index),
        "train_seconds": round(train_seconds, 1),
        "world": ds.world,
    }
    atomic_write_json(out / EVAL_FILE, result)
    log.debug("codec: %s  val PSNR %.2f dB  decode %.2f ms/frame", out / CODEC_FILE, val_psnr, speed["decode_ms"])
    return {**result, "codec": str(out / CODEC_FILE), "eval": str(out / EVAL_FILE)}
