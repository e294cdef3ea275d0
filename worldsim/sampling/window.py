"""Reference (naive) autoregressive generation: the whole context window is recomputed at every step.

This is the slow, obviously-correct path: each denoising step runs the transformer over the last
``context_frames - 1`` committed frames plus the frame being generated. The fast KV-cache path must
match it; benchmarks report their speed ratio.

A finished frame is *committed*: noised once to the inference context-noise level (anti-drift) and kept
as context; the same commit pass reads the reward and termination heads for that frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldsim.model.dynamics import DynamicsTransformer
from worldsim.sampling.config import SamplingConfig
from worldsim.sampling.schedule import NoiseSource, euler_schedule, guided, step_sizes


@dataclass
class StreamState:
    """Committed context of B independent streams."""

    latents: torch.Tensor  # (B, F, C, h, w) as fed to the model (already context-noised)
    t: torch.Tensor  # (B, F) noise level each committed frame carries
    actions: torch.Tensor  # (B, F) action that led to each frame
    frame_index: int  # absolute index of the next frame


class WindowSampler(NoiseSource):
    """Generate frames by Euler integration of the flow, recomputing the whole window each step.

    Args:
        model: Dynamics transformer (eval mode).
        sampling: The recipe (steps, context noise, guidance; see :class:`~worldsim.sampling.config.SamplingConfig`).
        generator: Source of all noise; the same generator state gives the same frames.
    """

    def __init__(
        self,
        model: DynamicsTransformer,
        sampling: SamplingConfig | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.model = model
        self.sampling = sampling or SamplingConfig()
        self.generator = generator

    @torch.no_grad()
    def start(self, latents: torch.Tensor, actions: torch.Tensor) -> StreamState:
        """Begin streams from real context latents ``(B, F, C, h, w)`` and the actions that led to them."""
        b, f = latents.shape[:2]
        t = torch.full((b, f), self.sampling.context_noise, device=latents.device)
        return StreamState(self._commit_noise(latents), t, actions.clone(), f)

    def _window(self, state: StreamState) -> StreamState:
        keep = self.model.cfg.context_len
        return StreamState(state.latents[:, -keep:], state.t[:, -keep:], state.actions[:, -keep:], state.frame_index)

    @torch.no_grad()
    def step(self, state: StreamState, action: torch.Tensor) -> tuple[StreamState, dict[str, torch.Tensor]]:
        """Generate the next frame of every stream given its action ``(B,)``.

        Returns the new state and ``latent`` ``(B, C, h, w)`` (clean estimate), ``reward`` ``(B,)`` and
        ``term_prob`` ``(B,)``.
        """
        ctx = self._window(state)
        b = ctx.latents.shape[0]
        shape = tuple(ctx.latents.shape[2:])
        dev = ctx.latents.device
        x = self._noise((b, *shape), dev)
        acts = torch.cat([ctx.actions, action[:, None]], 1)
        steps, guidance = self.sampling.steps, self.sampling.guidance
        ts = euler_schedule(steps, dev)
        d = step_sizes(self.model, b, acts.shape[1], steps, dev, last_only=True)
        for i in range(steps):
            t_frame = torch.full((b, 1), float(ts[i]), device=dev)
            window, t_window = torch.cat([ctx.latents, x[:, None]], 1), torch.cat([ctx.t, t_frame], 1)
            v = self.model(window, t_window, acts, d=d)["v"][:, -1]
            if guidance.enabled:
                null = acts.clone()
                null[:, -1] = self.model.cfg.null_action  # the context keeps its real actions
                v_null = self.model(window, t_window, null, d=d)["v"][:, -1]
                v = guided(v, v_null, guidance.scale, guidance.parallel, x, ts[i])
            x = x + (ts[i + 1] - ts[i]) * v
        committed = self._commit_noise(x)
        t_commit = torch.full((b, 1), self.sampling.context_noise, device=dev)
        out = self.model(torch.cat([ctx.latents, committed[:, None]], 1), torch.cat([ctx.t, t_commit], 1), acts)
        new_state = StreamState(
            torch.cat([state.latents, committed[:, None]], 1)[:, -self.model.cfg.context_frames :],
            torch.cat([state.t, t_commit], 1)[:, -self.model.cfg.context_frames :],
            torch.cat([state.actions, action[:, None]], 1)[:, -self.model.cfg.context_frames :],
            state.frame_index + 1,
        )
        return new_state, {
            "latent": x,
            "reward": out["reward"][:, -1],
            "term_prob": torch.sigmoid(out["term_logit"][:, -1]),
        }
