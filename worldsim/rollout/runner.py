"""One scenario end to end: the real runs, then every branch x sample generated as streams of ONE Simulator.

All ``branches * samples`` streams are reset from the same context frames (the real warm-up) and stepped
together, one batched model call per frame. Stream ``b * samples + s`` is sample ``s`` of branch ``b``;
samples differ only by the sampling noise each stream draws.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from worldsim.assets import WorldFiles, resolve_world, shipped_worlds
from worldsim.device import resolve_device
from worldsim.errors import CheckpointError, Error
from worldsim.rollout.real import RealRun, resolve_path, run_real
from worldsim.rollout.scenario import Scenario
from worldsim.sampling.config import resolve_sampling
from worldsim.sampling.simulator import Simulator
from worldsim.sources.base import make_config
from worldsim.world_model import WorldModel

log = logging.getLogger(__name__)

#: Context frames kept for the real-only output when there is no model to ask.
FALLBACK_CONTEXT = 4


@dataclass(frozen=True)
class RunOptions:
    """How scenarios are run (the scenario file says what is run).

    Attributes:
        device: ``auto``, ``cpu`` or ``cuda``.
        backend: Simulator backend: ``eager``, ``auto``, ``compile``, ``onnx``, ``tensorrt``.
        sampling: Overrides of the sampling recipe for every scenario, on top of the scenario's ``steps`` and the
            world's recipe (see :func:`~worldsim.sampling.config.resolve_sampling`).
        samples: Samples per branch for every scenario (``None``: the scenario's).
        progress: Show a progress bar over the frames of each scenario.
        cache_dir: Where exported programs (ONNX graphs, TensorRT) are kept for reuse (``None``: a temp dir).
    """

    device: str = "auto"
    backend: str = "eager"
    sampling: dict[str, Any] = field(default_factory=dict)
    samples: int | None = None
    progress: bool = False
    cache_dir: str | None = None


@dataclass
class ModelRun:
    """The model's side of a scenario.

    Attributes:
        frames: uint8 ``(branches, samples, T, H, W, 3)``.
        reward: ``(branches, samples, T)`` predicted rewards.
        term_prob: ``(branches, samples, T)`` predicted termination probabilities.
        model_s: Seconds in the dynamics model (denoising and commit), all frames.
        decode_s: Seconds decoding latents to frames.
        wall_s: Seconds of the whole generation loop.
        warmup_s: Seconds of the simulator's warm-up (compilation, allocation), not in ``wall_s``.
        steps: Denoising steps per frame.
        backend: Execution backend used.
        device: Device of the model.
    """

    frames: np.ndarray
    reward: np.ndarray
    term_prob: np.ndarray
    model_s: float
    decode_s: float
    wall_s: float
    warmup_s: float
    steps: int
    backend: str
    device: str

    @property
    def streams(self) -> int:
        """Streams generated together (branches x samples)."""
        return int(self.frames.shape[0] * self.frames.shape[1])

    @property
    def fps(self) -> float:
        """Generated frames per second over all streams (the loop's wall clock)."""
        return self.frames.shape[0] * self.frames.shape[1] * self.frames.shape[2] / max(self.wall_s, 1e-9)


@dataclass
class ScenarioRun:
    """Everything produced for one scenario (input to :mod:`worldsim.rollout.report`).

    Attributes:
        scenario: The scenario.
        samples: Samples per branch.
        real: One real run per branch.
        model: The model's frames, or ``None`` when the model could not be loaded (see ``error``).
        model_info: Name, file, resolution and context length of the model.
        error: Why there are no model frames; the scenario then counts as failed.
    """

    scenario: Scenario
    samples: int
    real: list[RealRun]
    model: ModelRun | None = None
    model_info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def context_frames(self) -> np.ndarray:
        """uint8 ``(C, H, W, 3)``: the context every stream started from."""
        return self.real[0].context_frames

    @property
    def actions(self) -> np.ndarray:
        """``(branches, T)`` action ids fed to the model."""
        return np.stack([r.actions for r in self.real])

    @property
    def context_identical(self) -> bool:
        """Whether the real replays of every branch produced the same context frames."""
        return all(np.array_equal(r.context_frames, self.context_frames) for r in self.real)


def resolve_model(scenario: Scenario) -> WorldFiles:
    """The model's files; a missing model is one line naming the scenario key and the fix."""
    spec = scenario.model_spec
    key = "model" if scenario.model else "world"
    path = resolve_path(spec, scenario)
    if scenario.model and (path.suffix == ".safetensors" or os.sep in spec or path.exists()):
        try:
            return resolve_world(str(path))
        except CheckpointError as e:
            raise CheckpointError(f"{scenario.where(key)}: {e}") from None
    if spec not in shipped_worlds():
        raise CheckpointError(
            f"{scenario.where(key)}: no shipped world {spec!r} (shipped: {', '.join(shipped_worlds()) or 'none'}); "
            f"train one with `scripts/train_world.sh {spec}` or set `model: PATH`"
        )
    return resolve_world(spec)


def load_model(scenario: Scenario, device: str) -> tuple[WorldFiles, WorldModel]:
    """Load the scenario's model and check it speaks the source world's actions."""
    files = resolve_model(scenario)
    model = WorldModel.load(files.world, resolve_device(device))
    if model.schema.fingerprint != scenario.schema.fingerprint:
        raise CheckpointError(
            f"{scenario.where('model')}: model {files.world} is a {model.schema.world!r} world "
            f"(actions {', '.join(model.schema.names)}), the scenario drives {scenario.world!r}; "
            f"set `model:` to a {scenario.world} world"
        )
    return files, model


def run_scenario(scenario: Scenario, options: RunOptions | None = None) -> ScenarioRun:
    """Run a scenario's real branches and generate all its branches x samples with the model.

    A model that cannot be loaded does not stop the real runs: the result then has real frames only and
    ``error`` set (the caller reports the scenario as failed, with the real half for reference).
    """
    options = options or RunOptions()
    samples = options.samples or scenario.samples
    try:
        files, model = load_model(scenario, options.device)
    except Error as e:
        cfg = make_config(scenario.world, dict(scenario.options))
        real = run_real(scenario, FALLBACK_CONTEXT, (cfg.height, cfg.width))
        return ScenarioRun(scenario, samples, real, error=str(e))
    context = model.dynamics.cfg.context_len
    real = run_real(scenario, context, model.resolution)
    run = ScenarioRun(scenario, samples, real)
    run.model_info = {
        "name": files.name,
        "file": str(files.world),
        "resolution": list(model.resolution),
        "context_frames": context,
        "fps": model.fps,
    }
    if not run.context_identical:
        log.warning("%s: the real replays of the branches start from different frames", scenario.name)
    recipe = resolve_sampling(model.sampling, {"steps": scenario.steps} if scenario.steps else None, scenario.name)
    sim = Simulator(
        model,
        num_streams=len(scenario.branches) * samples,
        sampling=resolve_sampling(recipe, options.sampling, where="rollout sampling"),
        backend=options.backend,
        seed=scenario.seed,
        cache_dir=options.cache_dir,
        name=files.name,
    )
    run.model = generate(sim, run.context_frames, run.real[0].context_actions, run.actions, samples, options.progress)
    return run


def generate(
    sim: Simulator,
    context_frames: np.ndarray,
    context_actions: np.ndarray,
    actions: np.ndarray,
    samples: int,
    progress: bool = False,
) -> ModelRun:
    """Generate ``samples`` rollouts per row of ``actions``, all from the same context, in one batch.

    Args:
        sim: A simulator with ``len(actions) * samples`` streams.
        context_frames: uint8 ``(C, H, W, 3)`` shared context.
        context_actions: ``(C,)`` actions that led to the context frames.
        actions: ``(branches, T)`` action ids.
        samples: Samples per branch.
        progress: Show a progress bar over frames.
    """
    branches, horizon = actions.shape
    streams = branches * samples
    if sim.num_streams != streams:
        raise ValueError(f"the simulator has {sim.num_streams} streams, need {branches} x {samples}")
    warmup_s = sim.warmup()
    sim.reset(np.repeat(context_frames[None], streams, 0), np.repeat(context_actions[None], streams, 0))
    h, w = sim.resolution
    frames = np.empty((streams, horizon, h, w, 3), np.uint8)
    reward = np.empty((streams, horizon), np.float32)
    term = np.empty((streams, horizon), np.float32)
    model_ms = decode_ms = 0.0
    per_stream = np.repeat(actions, samples, axis=0)  # (streams, T): stream b*samples+s plays branch b
    t0 = time.perf_counter()
    for t in tqdm(range(horizon), desc=sim.name, unit="frame", leave=False, disable=not progress):
        out = sim.step(per_stream[:, t])
        frames[:, t], reward[:, t], term[:, t] = out.frames, out.reward, out.term_prob
        model_ms += out.model_ms
        decode_ms += out.decode_ms
    wall = time.perf_counter() - t0
    shape = (branches, samples, horizon)
    return ModelRun(
        frames=frames.reshape(*shape, h, w, 3),
        reward=reward.reshape(shape),
        term_prob=term.reshape(shape),
        model_s=model_ms / 1000,
        decode_s=decode_ms / 1000,
        wall_s=wall,
        warmup_s=warmup_s,
        steps=sim.steps,
        backend=sim.backend.name,
        device=str(sim.world.device),
    )
