"""``worldsim train``: train the dynamics transformer (and, as a first stage, the codec) on a dataset.

One command for one CPU, one GPU or N GPUs (``torchrun --nproc_per_node N -m worldsim train ...``).
A run directory holds everything: ``config.yaml``, ``state.safetensors`` (weights, EMA, optimizer, RNG,
step; written atomically), ``world.safetensors`` (the loadable world, EMA weights), ``metrics.csv``,
``tb/`` (TensorBoard) and ``samples/`` (mp4 + PNG of open-loop rollouts next to ground truth). Re-running
the same command resumes from the last checkpoint and stops at the same total step count.
"""

from __future__ import annotations

import copy
import logging
import os
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from worldsim.checkpoint import (
    load_checkpoint,
    load_module,
    load_optimizer,
    module_tensors,
    optimizer_tensors,
    save_checkpoint,
    unwrap,
)
from worldsim.codec.autoencoder import FrameCodec
from worldsim.config import from_dict, read_config_file, to_dict
from worldsim.data.dataset import Dataset
from worldsim.device import resolve_device
from worldsim.errors import CheckpointError, ConfigError, DatasetError
from worldsim.io import atomic_write_bytes
from worldsim.model.dynamics import DynamicsConfig, DynamicsTransformer, preset
from worldsim.runtime import fast_bf16
from worldsim.sampling.config import SamplingConfig
from worldsim.training.latents import dataset_latents
from worldsim.training.logger import MetricsLogger
from worldsim.training.loop import cosine_lr, fit
from worldsim.training.objective import flow_matching_loss, shortcut_loss
from worldsim.training.preview import evaluate, write_samples
from worldsim.training.run import Run, TrainConfig
from worldsim.training.state import refuse_other_settings
from worldsim.training.windows import WindowBatcher
from worldsim.world_model import WorldModel

log = logging.getLogger(__name__)


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Run (or resume) training; return the path of the exported ``world.safetensors``."""
    rank, world_size = _init_distributed()
    run = _setup(cfg, rank, world_size, progress)
    logger = MetricsLogger(run.out, enabled=run.main)
    run.started = time.perf_counter()
    hooks = [(cfg.eval_every, lambda s: evaluate(run)), (cfg.sample_every, lambda s: write_samples(run))]

    def log_row(step: int, row: dict[str, Any]) -> None:
        names = {"lr": "train/lr", "samples_per_s": "perf/samples_per_s"}
        named = {names.get(k, k if "/" in k else f"train/{k}"): v for k, v in row.items() if k not in _NOT_LOGGED}
        logger.log(step, {**named, **_mfu(run, row.get("samples_per_s", 0.0))})

    try:
        result = fit(
            lambda s: _train_step(run, s), start=run.step, total=cfg.steps, name="train", opt=run.opt,
            lr=lambda s: cosine_lr(s, cfg.lr, cfg.warmup, cfg.steps, 0.1), log_every=cfg.log_every,
            ckpt_every=cfg.ckpt_every, hooks=hooks if run.main else (), save=lambda s, seconds: _save(run), log=log_row,
            stop_rule=lambda signalled, done, seconds: _agree(run, signalled or _should_pause(cfg, done, seconds)),
            samples_per_step=cfg.batch_size * run.world_size, progress=progress and run.main,
        )  # fmt: skip
    finally:
        logger.close()
    if result.stopped:
        log.info("paused at step %d of %d; re-run the same command to continue", run.step, cfg.steps)
    return run.out / "world.safetensors"


#: Row values the loop keeps for itself (the world file records training time).
_NOT_LOGGED = ("step", "train_seconds")


def _agree(run: Run, flag: bool) -> bool:
    """``flag`` on any rank: all stop together (a signal or a time limit can reach ranks at different steps)."""
    if run.world_size == 1:
        return flag
    t = torch.tensor([float(flag)], device=run.device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


#: Dense bf16 peak FLOP/s by GPU name fragment, for model FLOPs utilisation.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40": 181e12, "A10": 125e12, "4090": 165e12}


def _mfu(run: Run, samples_per_s: float) -> dict[str, float]:
    """Model FLOPs utilisation on CUDA: 6 * params * tokens per sample (+ attention), over the GPU's peak."""
    if run.device.type != "cuda":
        return {}
    name = torch.cuda.get_device_name(run.device)
    peak = next((v for k, v in PEAK_FLOPS.items() if k in name), None)
    if peak is None:
        return {}
    m = unwrap(run.model)
    frames = run.train.length
    tokens = frames * m.cfg.tokens_per_frame
    attn = 6 * m.cfg.depth * tokens * tokens * m.cfg.dim  # QK^T and AV, forward and backward, full window
    flops = 6 * m.num_params() * tokens + attn
    return {"perf/mfu": samples_per_s * flops / (peak * run.world_size)}


def train_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether training steps run under bf16 autocast: on CUDA, and on CPUs with bf16 matrix instructions.

    A CarRacing training step at batch 32 on one core (scripts/bench_train_step.py): 1.4-1.9x faster in bf16 on a
    Xeon with AMX, 1.36x on an AMD EPYC (Zen 4) with AVX512-BF16.
    """
    return cfg.bf16 and fast_bf16(device)


def _should_pause(cfg: TrainConfig, steps_done: int, seconds: float) -> bool:
    by_steps = cfg.stop_after > 0 and steps_done >= cfg.stop_after
    return by_steps or (cfg.time_limit > 0 and seconds >= cfg.time_limit)


def _train_step(run: Run, step: int) -> dict[str, torch.Tensor]:
    """One optimisation step (and EMA update) at index ``step``; returns detached scalars (no device sync)."""
    cfg = run.cfg
    run.model.train()
    # Randomness of step s depends only on (seed, rank, s): resuming needs no RNG state, and under torchrun
    # every rank draws its own batches.
    rng = np.random.default_rng([cfg.seed, run.rank, step])
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    batch = run.train.sample(rng, cfg.batch_size).to(run.device)
    data = (batch.latents, batch.actions, batch.rewards, batch.terminated, batch.has_action)
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=train_bf16(cfg, run.device)):
        if cfg.objective.bootstrap_every:
            out = shortcut_loss(run.model, run.ema, *data, cfg.objective, gen, boxes=batch.boxes)
        else:
            out = flow_matching_loss(run.model, *data, cfg.objective, gen, boxes=batch.boxes)
    run.opt.zero_grad(set_to_none=True)
    out["loss"].backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    run.opt.step()
    _update_ema(run.ema, unwrap(run.model), cfg.ema)
    run.step = step + 1
    keys = ("loss", "fm", "reward", "term", "shortcut")
    return {**{k: out[k].detach() for k in keys if k in out}, "grad_norm": grad_norm}


@torch.no_grad()
def _update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p.detach(), 1 - decay)


# -- setup ------------------------------------------------------------------------------------------


def _init_distributed() -> tuple[int, int]:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    rank = torch.distributed.get_rank() if world_size > 1 else 0
    return rank, world_size


def _setup(cfg: TrainConfig, rank: int, world_size: int, progress: bool = True) -> Run:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_config(out, cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    ds = Dataset(cfg.data)
    for name, on in (("objective.label_weight", cfg.objective.label_weight != 1), ("empty_share", cfg.empty_share)):
        if on and not ds.has_labels:
            raise DatasetError(
                f"{ds.root}: {name} needs per-frame labels, which this dataset does not record; record it with a "
                f"world that labels its frames (breakout, doom) or drop {name}"
            )
    teacher = WorldModel.load(cfg.init_from) if cfg.init_from else None
    if teacher is not None and teacher.schema.fingerprint != ds.schema.fingerprint:
        raise CheckpointError(f"{cfg.init_from}: was trained on other actions than {cfg.data} records")
    codec = (teacher.codec if teacher else _get_codec(cfg, ds, out, rank)).to(device).eval()
    # Beside the dataset, per codec: every run (and distillation) with this codec shares one encoding.
    latents = dataset_latents(ds, codec, progress=progress and rank == 0)
    c, h, w = codec.latent_shape
    shortcut = {"shortcut": True} if cfg.objective.bootstrap_every else {}
    if teacher is not None:
        mcfg = replace(teacher.dynamics.cfg, **{**cfg.model_overrides, **shortcut})
    else:
        overrides = {"latent_channels": c, "latent_height": h, "latent_width": w, "num_actions": len(ds.schema)}
        mcfg = preset(cfg.model, **{**overrides, **cfg.model_overrides, **shortcut})
    torch.manual_seed(cfg.seed)
    model = DynamicsTransformer(mcfg).to(device)
    if teacher is not None:
        _init_from_teacher(model, teacher.dynamics, cfg.init_from)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    length = cfg.window or mcfg.context_frames
    if length > mcfg.context_frames:
        raise ConfigError(f"window={length} exceeds the model's context_frames={mcfg.context_frames}")
    run = Run(
        cfg, out, device, ds, codec, model, ema, opt,
        WindowBatcher(
            ds, latents, length, mcfg.null_action, "train", boxes=cfg.objective.label_weight != 1,
            empty_share=cfg.empty_share,
        ),
        WindowBatcher(ds, latents, length, mcfg.null_action, "val", boxes=cfg.objective.label_weight != 1),
        rank=rank, world_size=world_size,
    )  # fmt: skip
    if teacher is not None:
        run.parent = {"world": cfg.init_from, "depth": teacher.dynamics.cfg.depth} | {
            k: teacher.metadata[k] for k in ("trained_steps", "train_seconds", "hardware") if k in teacher.metadata
        }
    if (out / "state.safetensors").exists():
        _resume(run)
    if rank == 0:
        what = f"from {cfg.init_from}" if cfg.init_from else cfg.model
        log.info("dynamics %s: %.1fM params, %d tokens/frame, window %d", what, model.num_params() / 1e6,
                 mcfg.tokens_per_frame, length)  # fmt: skip
    if cfg.compile and device.type == "cuda":
        run.model = torch.compile(model)
    if world_size > 1:
        run.model = torch.nn.parallel.DistributedDataParallel(run.model)
    return run


def _init_from_teacher(model: DynamicsTransformer, teacher: DynamicsTransformer, path: str) -> None:
    """Copy the teacher's weights; only the step-size embedding and extra blocks may be new.

    Both start zero-gated (DiT's adaLN-zero), so a student that gains step-size conditioning, or a model grown
    deeper than its teacher (``model_overrides: {depth: N}``), starts out computing exactly what the teacher did.
    """
    if model.cfg.depth < teacher.cfg.depth:
        raise CheckpointError(
            f"{path}: has {teacher.cfg.depth} blocks, more than the {model.cfg.depth} asked for; "
            "a run may grow a world deeper, not shallower"
        )
    grown = tuple(f"blocks.{i}." for i in range(teacher.cfg.depth, model.cfg.depth))
    try:
        missing, unexpected = model.load_state_dict(teacher.state_dict(), strict=False)
    except RuntimeError:  # a tensor of another shape: dim, heads or patch size were overridden
        raise CheckpointError(
            f"{path}: its weights have other shapes than the model asked for; from a trained world only depth "
            "may change (model_overrides: {depth: N})"
        ) from None
    bad = [k for k in missing if not k.startswith(("cond.d_mlp.", *grown))] + list(unexpected)
    if bad:
        raise CheckpointError(f"{path}: teacher weights do not fit the student ({bad[:3]})")


def _check_same_config(out: Path, cfg: TrainConfig) -> None:
    path = out / "config.yaml"
    current = to_dict(cfg)
    if path.exists():
        # Through the dataclass, so fields added since the run started compare as their defaults.
        old = to_dict(from_dict(TrainConfig, read_config_file(path), where=str(path)))
        fixed = ("data", "model", "model_overrides", "window", "seed", "codec", "init_from", "objective")
        refuse_other_settings(out, old, current, fixed)
    atomic_write_bytes(path, yaml.safe_dump(current, sort_keys=False).encode())


def _get_codec(cfg: TrainConfig, ds: Dataset, out: Path, rank: int) -> FrameCodec:
    if cfg.codec:
        codec = FrameCodec.from_checkpoint(cfg.codec)
    else:
        codec_path = out / "codec" / "codec.safetensors"
        if not codec_path.exists():
            if rank != 0:
                raise ConfigError("with torchrun, train the codec first (worldsim train-codec) and pass --codec")
            from worldsim.training.codec import CodecTrainConfig, train_codec

            log.info("stage 1/2: training the codec (%d steps) into %s", cfg.codec_steps, codec_path.parent)
            # The run's checkpoint cadence, device, threads and seed hold for its codec stage too: a kill during
            # it resumes from the stage's last checkpoint, not from step 0.
            stage = CodecTrainConfig(
                data=cfg.data, out=str(codec_path.parent), steps=cfg.codec_steps, ckpt_every=cfg.ckpt_every,
                device=cfg.device, threads=cfg.threads, seed=cfg.seed,
            )  # fmt: skip
            train_codec(stage)
        codec = FrameCodec.from_checkpoint(codec_path)
    if (codec.config.height, codec.config.width) != ds.resolution:
        raise CheckpointError(
            f"{cfg.codec or 'codec'}: made for {codec.config.height}x{codec.config.width} frames but the dataset "
            f"has {ds.resolution[0]}x{ds.resolution[1]}; train a codec on this dataset"
        )
    return codec


# -- checkpoints ------------------------------------------------------------------------------------


def _save(run: Run) -> None:
    if not run.main:
        return
    opt_tensors, opt_info = optimizer_tensors(run.opt)
    tensors = {
        **module_tensors(run.model, "model."),
        **module_tensors(run.ema, "ema."),
        **opt_tensors,
    }
    save_checkpoint(
        run.out / "state.safetensors",
        tensors,
        kind="train_state",
        step=run.step,
        optim=opt_info,
        config=to_dict(run.cfg),
        dynamics_config=to_dict(unwrap(run.model).cfg),
        train_seconds=_train_seconds(run),
    )
    export_world(run).save(
        run.out / "world.safetensors",
        trained_steps=run.step,
        dataset=str(run.cfg.data),
        train_seconds=_train_seconds(run),
        hardware=hardware_name(run.device, run.world_size),
        precision="bf16 autocast" if train_bf16(run.cfg, run.device) else "fp32",
        **({"parent": run.parent} if run.parent else {}),
    )


def _train_seconds(run: Run) -> float:
    return round(run.seconds + time.perf_counter() - run.started, 1)


def hardware_name(device: torch.device, world_size: int = 1) -> str:
    """What the run trained on, for model cards (e.g. ``1x NVIDIA H100 80GB HBM3`` or ``CPU, 2 threads``)."""
    if device.type == "cuda":
        return f"{world_size}x {torch.cuda.get_device_name(device)}"
    return f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} threads"


def _resume(run: Run) -> None:
    path = run.out / "state.safetensors"
    tensors, meta = load_checkpoint(path, kind="train_state")
    saved = from_dict(DynamicsConfig, meta.get("dynamics_config", {}), where=f"{path} dynamics_config")
    if saved != run.model.cfg:
        raise CheckpointError(f"{path}: was trained with another model shape; resume with the same settings")
    load_module(run.model, tensors, "model.", path)
    load_module(run.ema, tensors, "ema.", path)
    load_optimizer(run.opt, tensors, meta["optim"])
    run.step = int(meta["step"])
    run.seconds = float(meta.get("train_seconds", 0.0))
    log.info("resumed %s at step %d", run.out, run.step)


def export_world(run: Run) -> WorldModel:
    """The EMA dynamics and the codec as a :class:`WorldModel` (CPU copies)."""
    sampling = SamplingConfig(**run.sampling())
    codec = copy.deepcopy(run.codec).cpu()
    meta = {"world": run.ds.world, "fps": float(run.ds.meta.get("fps", 30.0))}
    return WorldModel(codec, copy.deepcopy(run.ema).cpu(), run.ds.schema, sampling, meta)
