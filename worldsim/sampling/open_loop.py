"""Open-loop rollouts: real context frames in, recorded (or scripted) actions, generated frames out."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from worldsim.sampling.config import SamplingOverrides, resolve_sampling
from worldsim.sampling.display import Display
from worldsim.sampling.simulator import Simulator, StepResult
from worldsim.sampling.window import WindowSampler
from worldsim.world_model import WorldModel


@torch.no_grad()
def open_loop(
    world: WorldModel,
    context_frames: np.ndarray,
    context_actions: np.ndarray,
    actions: np.ndarray,
    sampling: SamplingOverrides = None,
    seed: int = 0,
    progress: bool = False,
    cached: bool = True,
    precision: str = "fp32",
) -> dict[str, np.ndarray]:
    """Generate ``T`` frames per stream following ``actions``, through :class:`Simulator` (eager).

    Args:
        world: The world model.
        context_frames: uint8 ``(B, Fc, H, W, 3)`` real frames to start from.
        context_actions: ``(B, Fc)`` action that led to each context frame (``num_actions`` = unknown).
        actions: ``(B, T)`` action applied before each generated frame.
        sampling: Overrides of the world's sampling recipe (see :func:`~worldsim.sampling.config.resolve_sampling`).
        seed: Seed of all sampling noise.
        progress: Show a progress bar over frames.
        cached: Use the Simulator (fast); False uses the reference sampler that recomputes the whole window.
        precision: The Simulator's precision; fp32 by default, so evaluation numbers do not depend on how many
            windows are generated together (``auto`` would switch to bf16 from 8 streams on AMX CPUs).

    Returns:
        ``frames`` uint8 ``(B, T, H, W, 3)``, ``reward`` ``(B, T)``, ``term_prob`` ``(B, T)``.
    """
    actions = np.asarray(actions)
    if cached:
        # The caller's thread count, not the play policy's: switching torch's threads and back changes which
        # kernels later work in the process gets, so a training run that evaluates in between would no longer match
        # the same run resumed from a checkpoint bit for bit.
        stream: Simulator | ReferenceStream = Simulator(
            world, len(actions), sampling, seed=seed, threads=torch.get_num_threads(), precision=precision
        )
    else:
        stream = ReferenceStream(world, sampling, seed)
    stream.reset(np.asarray(context_frames), np.asarray(context_actions))
    frames, rewards, terms = [], [], []
    for i in tqdm(range(actions.shape[1]), desc="rollout", unit="frame", disable=not progress):
        out = stream.step(actions[:, i])
        frames.append(out.frames)
        rewards.append(out.reward)
        terms.append(out.term_prob)
    return {"frames": np.stack(frames, 1), "reward": np.stack(rewards, 1), "term_prob": np.stack(terms, 1)}


class ReferenceStream:
    """The reference sampler (whole window recomputed every step, eager) behind the Simulator's reset/step.

    The obviously-correct path the Simulator is tested against, and the naive path ``worldsim bench`` times.
    """

    def __init__(self, world: WorldModel, sampling: SamplingOverrides, seed: int) -> None:
        recipe = resolve_sampling(world.sampling, sampling)
        self.world = world
        self.sampler = WindowSampler(world.dynamics, recipe, torch.Generator().manual_seed(seed))
        self.display = Display(world, recipe.hold)  # each frame is decoded after the one before it

    def reset(self, frames: np.ndarray, actions: np.ndarray) -> None:
        """Start every stream from real context ``frames`` ``(B, F, H, W, 3)`` and the ``actions`` before them."""
        keep = self.world.dynamics.cfg.context_len
        latents = self.world.encode(frames[:, -keep:])
        self.state = self.sampler.start(latents, torch.as_tensor(actions[:, -keep:]).long().to(self.world.device))
        self.display.start(frames[:, -1], latents[:, -1], before=frames[:, :-1])

    def step(self, action: np.ndarray) -> StepResult:
        """Advance every stream by one frame under its action ids ``(B,)``."""
        self.state, out = self.sampler.step(self.state, torch.as_tensor(action).long().to(self.world.device))
        reward, term = out["reward"].float().cpu().numpy(), out["term_prob"].float().cpu().numpy()
        return StepResult(self.display.show(out["latent"]).copy(), reward, term, False, 0.0, 0.0)
