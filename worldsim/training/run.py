"""A dynamics training run: its settings (:class:`TrainConfig`) and everything the loop holds (:class:`Run`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from worldsim.codec.autoencoder import FrameCodec
from worldsim.data.dataset import Dataset
from worldsim.model.dynamics import DynamicsTransformer
from worldsim.training.objective import ObjectiveConfig
from worldsim.training.windows import WindowBatcher


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a dynamics training run.

    Attributes:
        data: Dataset directory.
        out: Run directory (created; re-running resumes).
        codec: Trained codec file; empty = train one first in ``out/codec`` (``codec_steps`` steps).
        codec_steps: Steps of the codec stage when ``codec`` is empty.
        init_from: World file whose codec and dynamics weights start this run (distillation fine-tunes a
            teacher this way; ``model`` is then ignored). ``model_overrides: {depth: N}`` grows it deeper:
            the new blocks are appended as identities.
        model: Size preset (tiny, small, base, large, nfd-310m).
        model_overrides: Fields of :class:`DynamicsConfig` to override, e.g. ``{"depth": 8}``.
        window: Frames per training window (0 = the model's context_frames).
        batch_size: Windows per step (per process under torchrun).
        steps: Total optimisation steps.
        lr: Peak learning rate (linear warm-up, then cosine to 10%).
        warmup: Warm-up steps.
        weight_decay: AdamW weight decay.
        grad_clip: Gradient-norm clip.
        ema: EMA decay of the weights used for evaluation and export.
        log_every: Steps between logged training metrics.
        eval_every: Steps between evaluations (0 = only at the end).
        sample_every: Steps between sample videos (0 = only at the end).
        ckpt_every: Steps between checkpoints.
        eval_episodes: Validation episodes in the periodic evaluation.
        eval_horizon: Generated frames per evaluation rollout.
        sample_steps: Denoising steps for evaluation and samples (also the exported world's default).
        context_noise: Inference context-noise level (exported with the world).
        seed: Seed of data order, noise and initialisation.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        bf16: bf16 autocast on CUDA and on CPUs with AMX-BF16 (fp32 on other CPUs, whose bf16 is slower).
        compile: ``torch.compile`` the model (CUDA).
        threads: CPU threads for torch (0 = torch's default).
        stop_after: Leave after this many steps in this invocation (0 = run to ``steps``); resume later.
        time_limit: Leave after this many seconds, checkpointed (0 = no limit), for time-boxed machines.
        empty_share: Share of each batch drawn from windows whose frames before the last show no labelled object
            (Breakout: no ball in play; Doom: no monster in sight; needs labels), each action ending them equally
            often. There only the action decides what comes next, and the data's players leave such states fast.
            Experimental (docs/model.md, "the world serves the ball by itself", "Not drift"); 0 = off.
        objective: Loss settings.
    """

    data: str = ""
    out: str = "runs/world"
    codec: str = ""
    codec_steps: int = 3000
    init_from: str = ""
    model: str = "small"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    window: int = 0
    batch_size: int = 16
    steps: int = 20_000
    lr: float = 3e-4
    warmup: int = 500
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema: float = 0.999
    log_every: int = 50
    eval_every: int = 2000
    sample_every: int = 4000
    ckpt_every: int = 500
    eval_episodes: int = 4
    eval_horizon: int = 32
    sample_steps: int = 16
    context_noise: float = 0.05
    seed: int = 0
    device: str = "auto"
    bf16: bool = True
    compile: bool = False
    threads: int = 0
    stop_after: int = 0
    time_limit: float = 0.0
    empty_share: float = 0.0
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("data is required: the dataset directory to train on")
        if not 0 <= self.empty_share < 1:
            raise ValueError(f"empty_share must be in [0, 1), got {self.empty_share}")
        for name in ("steps", "batch_size", "ckpt_every", "log_every", "sample_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class Run:
    """Everything a training loop holds."""

    cfg: TrainConfig
    out: Path
    device: torch.device
    ds: Dataset
    codec: FrameCodec
    model: torch.nn.Module
    ema: DynamicsTransformer
    opt: torch.optim.Optimizer
    train: WindowBatcher
    val: WindowBatcher
    step: int = 0
    rank: int = 0
    world_size: int = 1
    seconds: float = 0.0  # training wall time of earlier invocations (resumed runs)
    parent: dict[str, Any] | None = None  # the init_from world's training, carried into this run's world file
    started: float = 0.0  # perf_counter when this invocation started

    def sampling(self) -> dict[str, Any]:
        """The recipe in-training samples use (the one the exported world will carry)."""
        return {"steps": self.cfg.sample_steps, "context_noise": self.cfg.context_noise}

    @property
    def main(self) -> bool:
        """Whether this process writes files and logs."""
        return self.rank == 0
