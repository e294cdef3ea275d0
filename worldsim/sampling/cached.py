"""Incremental generation with a KV cache: each denoising pass runs over the new frame's tokens only.

Past frames live in a fixed ring buffer of keys/values (:class:`~worldsim.model.dynamics.KVCache`); a
finished frame is committed by one more pass at the context-noise level, which writes its keys/values
and reads the reward/termination heads. Within the context window the result equals
:class:`~worldsim.sampling.window.WindowSampler` (tested). Once frames slide out of the window, cached
keys/values keep the context they were computed with (a rolling KV cache, as in Self-Forcing/LongLive),
while the reference recomputes them from the shorter window; both are valid samplers of the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldsim.model.dynamics import DynamicsTransformer, KVCache
from worldsim.sampling.window import euler_schedule


@dataclass
class CachedState:
    """Cache and next absolute frame index of each stream."""

    cache: KVCache
    positions: torch.Tensor  # (B,) long


class CachedSampler:
    """Same interface and noise order as :class:`WindowSampler`, K + 1 passes over one frame's tokens per frame."""

    def __init__(
        self,
        model: DynamicsTransformer,
        steps: int = 16,
        context_noise: float = 0.05,
        generator: torch.Generator | None = None,
    ) -> None:
        self.model, self.steps, self.context_noise, self.generator = model, steps, context_noise, generator

    def _noise(self, shape: tuple[int, ...], device) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator).to(device)

    def _commit_noise(self, z: torch.Tensor) -> torch.Tensor:
        tau = self.context_noise
        return (1 - tau) * z + tau * self._noise(tuple(z.shape), z.device)

    @torch.no_grad()
    def start(self, latents: torch.Tensor, actions: torch.Tensor) -> CachedState:
        """Fill a fresh cache from real context latents ``(B, F, C, h, w)`` (the last C - 1 are kept)."""
        b = latents.shape[0]
        noisy = self._commit_noise(latents)
        keep = self.model.cfg.context_frames - 1
        noisy, actions = noisy[:, -keep:], actions[:, -keep:]
        f = noisy.shape[1]
        dev = latents.device
        cache = KVCache(self.model.cfg, b, dev, next(self.model.parameters()).dtype)
        positions = torch.zeros(b, dtype=torch.long, device=dev)
        t = torch.full((b, f), self.context_noise, device=dev)
        self.model.forward_cached(noisy, t, actions, positions, cache, commit=True)
        return CachedState(cache, positions + f)

    @torch.no_grad()
    def step(self, state: CachedState, action: torch.Tensor) -> tuple[CachedState, dict[str, torch.Tensor]]:
        """Generate and commit the next frame of every stream; outputs as :meth:`WindowSampler.step`."""
        cfg = self.model.cfg
        b, dev = action.shape[0], action.device
        x = self._noise((b, cfg.latent_channels, cfg.latent_height, cfg.latent_width), dev)
        acts = action[:, None]
        ts = euler_schedule(self.steps, dev)
        for i in range(self.steps):
            t = torch.full((b, 1), float(ts[i]), device=dev)
            out = self.model.forward_cached(x[:, None], t, acts, state.positions, state.cache)
            x = x + (ts[i + 1] - ts[i]) * out["v"][:, 0]
        committed = self._commit_noise(x)
        t = torch.full((b, 1), self.context_noise, device=dev)
        out = self.model.forward_cached(committed[:, None], t, acts, state.positions, state.cache, commit=True)
        state.positions = state.positions + 1
        return state, {"latent": x, "reward": out["reward"][:, 0], "term_prob": torch.sigmoid(out["term_logit"][:, 0])}
