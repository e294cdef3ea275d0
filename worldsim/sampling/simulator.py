"""The one generation path: B streams of a world, stepped frame by frame from actions to RGB frames.

The Gym env (one stream or a vector of them), the play window, scenario rollouts, evaluation, the benchmark and
``worldsim export`` all drive a :class:`Simulator`, with the world's sampling recipe and the caller's overrides
(:func:`~worldsim.sampling.config.resolve_sampling`). It holds the KV cache of every stream
(:class:`~worldsim.sampling.cached.CachedSampler`), runs the dynamics through an execution backend (eager, compile,
ONNX Runtime, TensorRT), optionally speculates frames ahead assuming the action is held, and decodes latents to
uint8 frames.

>>> sim = Simulator.load("carracing", num_streams=4, device="cpu", sampling={"steps": 1})
>>> frames = sim.reset_from_starts(seed=0)                       # real start frames
>>> out = sim.step(["gas", "left", "gas", "noop"])
>>> frames.shape, out.frames.shape, out.frames.dtype, out.reward.shape
((4, 64, 64, 3), (4, 64, 64, 3), dtype('uint8'), (4,))
>>> sim.sampling.guidance.scale, sim.sampling.steps                # the world's guidance, our step count
(2.5, 1)
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from worldsim.actions import ActionSchema
from worldsim.assets import long_play_verdicts, resolve_world, shipped_worlds
from worldsim.device import resolve_device, synchronize, torch_threads
from worldsim.errors import CheckpointError, ConfigError, GenerationError, InvalidAction, UnknownNameError
from worldsim.runtime import compute_threads, generation_bf16
from worldsim.sampling.backends import EagerBackend, make_backend
from worldsim.sampling.cached import CachedSampler, CachedState
from worldsim.sampling.config import SamplingConfig, SamplingOverrides, resolve_sampling
from worldsim.sampling.display import Display
from worldsim.starts import StartStates
from worldsim.world_model import WorldModel

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class StepResult:
    """One step of every stream.

    Attributes:
        frames: uint8 ``(B, H, W, 3)`` generated frames.
        reward: float32 ``(B,)`` predicted reward of the transition.
        term_prob: float32 ``(B,)`` predicted probability that the episode ended.
        accepted: Whether the frames came from the speculative buffer (no denoising this step).
        model_ms: Milliseconds spent in the dynamics model (denoise + commit).
        decode_ms: Milliseconds spent decoding latents to frames.
    """

    frames: np.ndarray
    reward: np.ndarray
    term_prob: np.ndarray
    accepted: bool
    model_ms: float
    decode_ms: float


def _generating(method: Callable[..., T]) -> Callable[..., T]:
    """Run a Simulator method without autograd and, on the CPU, with the simulator's threads (then restore them)."""

    @functools.wraps(method)
    def run(self: Simulator, *args: Any, **kwargs: Any) -> T:
        device = self.world.device.type
        with (
            torch.no_grad(),
            torch_threads(self.threads if device == "cpu" else 0),
            torch.autocast(device, dtype=torch.bfloat16, enabled=self.bf16),
            warnings.catch_warnings(),
        ):
            # Under bf16 the QK-norm's fp32 weight meets bf16 inputs and torch says so on every call; it is expected.
            warnings.filterwarnings("ignore", message="Mismatch dtype between input and weight")
            return method(self, *args, **kwargs)

    return run


class Simulator:
    """``num_streams`` independent rollouts of one world, advanced together in one batched model call.

    Args:
        world: The world model.
        num_streams: Streams ``B`` (vector envs, rollout samples).
        sampling: Overrides of the world's sampling recipe (steps, context noise, guidance, pixel hold), e.g.
            ``{"steps": 4, "guidance": {"scale": 1}}``; see :func:`~worldsim.sampling.config.resolve_sampling`.
        lookahead: Speculative frames generated ahead assuming the action is held (0 disables).
        backend: ``auto``, ``eager``, ``compile``, ``onnx`` or ``tensorrt`` (or a backend already built).
        seed: Seed of all sampling noise (same seed, same actions: same frames on CPU).
        starts: Start states for :meth:`reset_from_starts`.
        cache_dir: Where exported programs (ONNX, TensorRT) are kept for reuse.
        name: Display name (default: the schema's world).
        threads: CPU threads for generation (default: :func:`worldsim.runtime.compute_threads`, 1 unless
            ``WORLDSIM_THREADS`` or ``OMP_NUM_THREADS`` say otherwise). Torch work runs with them and the caller's
            count is restored after each call.
        precision: ``auto`` (bf16 autocast for 8 or more streams on a CPU with AMX-BF16 or AVX512-BF16, else fp32),
            ``fp32`` or ``bf16``; see :mod:`worldsim.runtime`.
    """

    def __init__(
        self,
        world: WorldModel,
        num_streams: int = 1,
        sampling: SamplingOverrides = None,
        lookahead: int = 0,
        backend: str | EagerBackend = "eager",
        seed: int | None = 0,
        starts: StartStates | None = None,
        cache_dir: str | Path | None = None,
        name: str | None = None,
        threads: int | None = None,
        precision: str = "auto",
    ) -> None:
        if num_streams < 1:
            raise ValueError(f"num_streams must be >= 1, got {num_streams}")
        self.world, self.num_streams, self.starts = world, num_streams, starts
        self.name = name or world.schema.world
        #: ``{steps: passed}`` of the model card's long-play check (set by :meth:`load`; {} when unknown).
        self.long_play: dict[int, bool] = {}
        self._warned_steps: set[int] = set()
        recipe = resolve_sampling(world.sampling, sampling)
        self.threads = compute_threads(threads)
        self.backend = make_backend(world.dynamics, backend, cache_dir, self.threads)
        # bf16 autocast is a torch setting: an exported program (ONNX, TensorRT) runs in the precision it was
        # exported in, and an ONNX graph traced under autocast does not load in ONNX Runtime.
        if precision == "bf16" and self.backend.name in ("onnx", "tensorrt"):
            raise ConfigError(f"precision bf16 needs the eager or compile backend, not {self.backend.name!r}")
        torch_runs = self.backend.name in ("eager", "compile")
        self.bf16 = torch_runs and generation_bf16(precision, world.device.type, num_streams)
        self.generator = torch.Generator()
        self.seed(seed)
        self.sampler = CachedSampler(self.backend, recipe, self.generator, lookahead)
        self.state: CachedState | None = None
        # What every stream shows; decodes each frame after the previous one.
        self.display = Display(world, recipe.hold, self.backend.decoder(world.codec))
        if starts is not None and starts.schema.fingerprint != world.schema.fingerprint:
            raise InvalidAction(
                f"start states are for world {starts.schema.world!r} ({starts.schema.names}), "
                f"the model for {world.schema.world!r} ({world.schema.names}); use the starts shipped with the world"
            )

    @property
    def frames(self) -> np.ndarray | None:
        """Last frames of every stream, uint8 ``(B, H, W, 3)`` (None before the first reset)."""
        return self.display.frames

    @classmethod
    def load(cls, world: str | Path | None = None, num_streams: int = 1, device: str = "auto", **kwargs) -> Simulator:
        """A simulator of a shipped world name or checkpoint path, with its start states when it has some."""
        try:
            files = resolve_world(world)
        except UnknownNameError:
            from worldsim.sources.base import WORLDS

            if world not in WORLDS:
                raise
            raise CheckpointError(  # a source world without a learned model yet: say so, and how to get one
                f"world {world!r} has no learned model shipped (shipped: {', '.join(shipped_worlds()) or 'none'}); "
                f"train one (scripts/train_world.sh {world}) and pass its world.safetensors, or use the real "
                f"simulator: gym.make('WorldSimReal-v0', world={world!r})"
            ) from None
        model = WorldModel.load(files.world, resolve_device(device))
        starts = kwargs.pop("starts", None) or (StartStates.load(files.starts) if files.starts else None)
        sim = cls(model, num_streams, starts=starts, name=files.name, **kwargs)
        sim.long_play = long_play_verdicts(files.card)
        sim.warn_long_play()
        return sim

    @property
    def schema(self) -> ActionSchema:
        """The world's action schema."""
        return self.world.schema

    @property
    def resolution(self) -> tuple[int, int]:
        """``(height, width)`` of frames."""
        return self.world.resolution

    @property
    def context_frames(self) -> int:
        """Real frames a reset needs (more are accepted; the last ones are kept)."""
        return self.world.dynamics.cfg.context_len

    @property
    def sampling(self) -> SamplingConfig:
        """The resolved sampling recipe every stream runs."""
        return self.sampler.sampling

    @property
    def steps(self) -> int:
        """Denoising steps per frame (settable live)."""
        return self.sampling.steps

    @steps.setter
    def steps(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError(f"steps must be >= 1, got {value}")
        self.sampler.sampling = replace(self.sampling, steps=int(value))
        self._drop_speculation()
        self.warn_long_play()

    def long_play_warning(self) -> str | None:
        """Why the current step count is unsafe for long play, from the world's model card; None when it is not."""
        if self.long_play.get(self.steps, True):
            return None
        safe = [str(k) for k, ok in sorted(self.long_play.items()) if ok]
        return (
            f"world {self.name!r} at {self.steps} step(s) drifts off the real picture in long play (its model card's "
            f"10,000-frame check failed); use {' or '.join(safe) or 'more'} steps for long runs"
        )

    def warn_long_play(self) -> None:
        """Log :meth:`long_play_warning` once per step count."""
        why = self.long_play_warning()
        if why is not None and self.steps not in self._warned_steps:
            self._warned_steps.add(self.steps)
            log.warning("%s", why)

    @property
    def lookahead(self) -> int:
        """Speculative frames ahead (settable live; 0 disables)."""
        return self.sampler.lookahead

    @lookahead.setter
    def lookahead(self, value: int) -> None:
        limit = self.world.dynamics.cfg.max_lookahead
        if not 0 <= int(value) <= limit:
            raise ValueError(f"lookahead must be in 0..{limit}, got {value}")
        self.sampler.lookahead = int(value)
        self._drop_speculation()

    @property
    def acceptance_rate(self) -> float:
        """Fraction of frames served from the speculative buffer since the last full reset."""
        return CachedSampler.acceptance_rate(self.state) if self.state is not None else 0.0

    def seed(self, seed: int | None) -> None:
        """Reseed all sampling noise (None: fresh entropy)."""
        self.generator.manual_seed(int(seed) if seed is not None else int(torch.seed()))

    def action_ids(self, actions: Sequence[int | str] | np.ndarray | torch.Tensor | int | str) -> torch.Tensor:
        """``(B,)`` long ids of per-stream actions given as ids or names (one value is broadcast)."""
        if isinstance(actions, torch.Tensor):
            actions = actions.cpu().numpy()
        arr = np.asarray(actions, dtype=object).reshape(-1)
        if arr.size == 1 and self.num_streams > 1:
            arr = np.repeat(arr, self.num_streams)
        if arr.size != self.num_streams:
            raise InvalidAction(f"expected {self.num_streams} actions (one per stream), got {arr.size}")
        ids = [self.schema.index(a.item() if hasattr(a, "item") else a) for a in arr]
        return torch.tensor(ids, dtype=torch.long, device=self.world.device)

    @_generating
    def reset(
        self, frames: np.ndarray, actions: np.ndarray | None = None, streams: Sequence[int] | np.ndarray | None = None
    ) -> np.ndarray:
        """Start streams from real context frames; returns the last frame of every stream ``(B, H, W, 3)``.

        Args:
            frames: uint8 ``(S, F, H, W, 3)`` context frames for the ``S`` streams being reset (``F >= 1``).
            actions: ``(S, F)`` action ids that led to each frame (default: unknown).
            streams: Which streams to reset (default: all, then ``S == num_streams``). Other streams keep
                their cache and position: this is how a vector env auto-resets one finished episode.
        """
        frames = np.asarray(frames)
        if frames.ndim == 4:
            frames = frames[:, None]
        if frames.ndim != 5 or frames.shape[-1] != 3 or frames.shape[2:4] != self.resolution:
            raise ValueError(
                f"context frames must be uint8 (streams, frames, {self.resolution[0]}, {self.resolution[1]}, 3), "
                f"got {frames.shape}"
            )
        idx = np.arange(self.num_streams) if streams is None else np.asarray(streams, dtype=np.int64).reshape(-1)
        if len(frames) != len(idx):
            raise ValueError(f"{len(frames)} context windows for {len(idx)} streams")
        unknown = len(self.schema)
        acts = np.full(frames.shape[:2], unknown, dtype=np.int64) if actions is None else np.asarray(actions)
        if acts.shape != frames.shape[:2] or acts.min() < 0 or acts.max() > unknown:
            raise InvalidAction(f"context actions must be ids 0..{unknown} of shape {frames.shape[:2]}")
        keep = self.context_frames
        dev = self.world.device
        latents = self.world.encode(frames[:, -keep:])
        sub = self.sampler.start(latents, torch.as_tensor(acts[:, -keep:], device=dev).long())
        if self.state is None or streams is None:
            self.state = sub
            self.display.start(frames[:, -1], latents[:, -1], before=frames[:, :-1])
        else:
            self._splice(sub, torch.as_tensor(idx, device=dev))
            self.display.start(frames[:, -1], latents[:, -1], idx, before=frames[:, :-1])
        self._drop_speculation()
        return self.frames.copy()

    def reset_from_starts(self, seed: int | None = None, streams: Sequence[int] | None = None) -> np.ndarray:
        """Reset streams from shipped start states chosen by ``seed`` (stream ``i`` uses ``seed + i``)."""
        if self.starts is None:
            raise InvalidAction(
                f"world {self.name!r} has no start states (starts.safetensors beside the checkpoint); "
                "pass context frames to reset()"
            )
        idx = list(range(self.num_streams)) if streams is None else list(streams)
        picks = [self.starts.pick(None if seed is None else seed + i) for i in range(len(idx))]
        frames = np.stack([self.starts.frames[p] for p in picks])
        actions = np.stack([self.starts.actions[p] for p in picks])
        return self.reset(frames, actions, None if streams is None else idx)

    @_generating
    def step(self, actions) -> StepResult:
        """Advance every stream by one frame under its action (ids or names; one value applies to all)."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        ids = self.action_ids(actions)
        dev = self.world.device
        t0 = time.perf_counter()
        self.state, out = self.sampler.step(self.state, ids)
        self._check_finite(out)
        synchronize(dev)
        t1 = time.perf_counter()
        frames = self.display.show(out["latent"]).copy()
        t2 = time.perf_counter()
        return StepResult(
            frames=frames,
            reward=out["reward"].float().cpu().numpy(),
            term_prob=out["term_prob"].float().cpu().numpy(),
            accepted=bool(out["accepted"]),
            model_ms=1000 * (t1 - t0),
            decode_ms=1000 * (t2 - t1),
        )

    def warmup(self) -> float:
        """Run every shape the backend will see once (compilation, export, allocation); returns seconds.

        Leaves no trace: the noise generator and any existing streams are restored afterwards.
        """
        t0 = time.perf_counter()
        saved_state, saved_display = self.state, self.display
        self.display = Display(self.world, self.sampling.hold, self.backend.decoder(self.world.codec))
        saved_rng = self.generator.get_state()
        h, w = self.resolution
        f = self.starts.frames.shape[1] if self.starts is not None else self.context_frames  # the shape resets use
        self.reset(np.zeros((self.num_streams, min(f, self.context_frames), h, w, 3), np.uint8))
        n = len(self.schema)
        for a in (0, 0, 1 % n):  # generate, accept from the buffer (when speculating), generate again
            self.step(a)
        self.state, self.display = saved_state, saved_display
        self.generator.set_state(saved_rng)
        seconds = time.perf_counter() - t0
        log.info("warm-up (%s backend) took %.2f s", self.backend.name, seconds)
        return seconds

    def _check_finite(self, out: dict[str, torch.Tensor]) -> None:
        """Raise :class:`GenerationError` if any stream's new frame, reward or termination is not finite.

        A world whose weights were damaged in memory, or that is driven far outside its data, would otherwise show
        a frozen picture and NaN rewards forever (a Gym episode never ends: ``nan > 0.5`` is false).
        """
        values = (out["latent"].flatten(1), out["reward"][:, None], out["term_prob"][:, None])
        finite = torch.cat([torch.isfinite(v).all(1, keepdim=True) for v in values], 1).all(1)
        if not bool(finite.all()):
            streams = torch.nonzero(~finite).flatten().tolist()
            raise GenerationError(
                f"world {self.name!r} produced NaN or infinite values in stream(s) {streams[:8]}: its weights are "
                "damaged or the context is far outside its data; reload the world and reset those streams"
            )

    def _drop_speculation(self) -> None:
        if self.state is not None:
            self.state.buffer, self.state.buffer_action = [], None

    def _splice(self, sub: CachedState, idx: torch.Tensor) -> None:
        """Copy the freshly started streams ``sub`` into rows ``idx`` of the running state (in every cache tile)."""
        cache, new = self.state.cache, sub.cache
        rows = torch.cat([idx + j * self.num_streams for j in range(self.state.tiles)])
        for i in range(len(cache.k)):
            cache.k[i][rows] = new.k[i]
            cache.v[i][rows] = new.v[i]
        cache.slot_frame[rows] = new.slot_frame
        self.state.positions[idx] = sub.positions
