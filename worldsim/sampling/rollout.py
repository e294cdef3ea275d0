"""Open-loop rollouts: real context frames in, recorded (or scripted) actions, generated frames out."""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from worldsim.codec.display import Display
from worldsim.sampling.cached import CachedSampler
from worldsim.sampling.window import WindowSampler
from worldsim.world_model import WorldModel


@torch.no_grad()
def open_loop(
    world: WorldModel,
    context_frames: np.ndarray,
    context_actions: np.ndarray,
    actions: np.ndarray,
    steps: int | None = None,
    context_noise: float | None = None,
    seed: int = 0,
    progress: bool = False,
    cached: bool = True,
    guidance: float | None = None,
    guidance_parallel: float | None = None,
) -> dict[str, np.ndarray]:
    """Generate ``T`` frames per stream following ``actions``.

    Args:
        world: The world model.
        context_frames: uint8 ``(B, Fc, H, W, 3)`` real frames to start from.
        context_actions: ``(B, Fc)`` action that led to each context frame (``num_actions`` = unknown).
        actions: ``(B, T)`` action applied before each generated frame.
        steps: Denoising steps (default: the world's).
        context_noise: Context noise level (default: the world's).
        seed: Seed of all sampling noise.
        progress: Show a progress bar over frames.
        cached: Use the KV-cache sampler (fast); False uses the reference full-window recompute.
        guidance: Classifier-free guidance scale on the action (default: the world's; 1 = none).
        guidance_parallel: Weight of the guidance update along the conditional prediction (default: the world's;
            see :func:`~worldsim.sampling.window.guided`).

    Returns:
        ``frames`` uint8 ``(B, T, H, W, 3)``, ``reward`` ``(B, T)``, ``term_prob`` ``(B, T)``.
    """
    dev = world.device
    g = torch.Generator().manual_seed(seed)
    sampler = (CachedSampler if cached else WindowSampler)(
        world.dynamics,
        steps or world.sampling.steps,
        world.sampling.context_noise if context_noise is None else context_noise,
        g,
        guidance=world.sampling.guidance if guidance is None else guidance,
        guidance_parallel=world.sampling.guidance_parallel if guidance_parallel is None else guidance_parallel,
    )
    keep = world.dynamics.cfg.context_frames - 1
    latents = world.encode(context_frames[:, -keep:])
    state = sampler.start(latents, torch.as_tensor(np.asarray(context_actions)[:, -keep:]).long().to(dev))
    acts = torch.as_tensor(np.asarray(actions)).long().to(dev)
    frames, rewards, terms = [], [], []
    display = Display(world)  # each frame is decoded after the one before it (refiner, pixel hold)
    display.start(np.asarray(context_frames[:, -1]), latents[:, -1])
    for i in tqdm(range(acts.shape[1]), desc="rollout", unit="frame", disable=not progress):
        state, out = sampler.step(state, acts[:, i])
        frames.append(display.show(out["latent"]))
        rewards.append(out["reward"].float().cpu().numpy())
        terms.append(out["term_prob"].float().cpu().numpy())
    return {"frames": np.stack(frames, 1), "reward": np.stack(rewards, 1), "term_prob": np.stack(terms, 1)}
