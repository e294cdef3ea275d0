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


def euler_schedule(steps: int, device=None) -> torch.Tensor:
    """Noise levels ``1 = t_0 > t_1 > ... > t_K = 0`` for ``steps`` Euler steps."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return torch.linspace(1.0, 0.0, steps + 1, device=device)


def step_sizes(model, b: int, f: int, steps: int, device, last_only: bool = False) -> torch.Tensor | None:
    """Step-size conditioning ``(B, F)`` for a shortcut model taking ``steps`` steps (None for a plain flow model).

    With ``last_only`` only the last frame (the one being generated) gets ``1 / steps``; context frames get 0.
    """
    if not model.cfg.shortcut:
        return None
    d = torch.full((b, f), 1.0 / steps, device=device)
    if last_only:
        d[:, :-1] = 0.0
    return d


def guided(
    v: torch.Tensor,
    v_null: torch.Tensor,
    scale: float,
    parallel: float = 1.0,
    x: torch.Tensor | None = None,
    t: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Classifier-free guidance on the action: ``v_null + scale * (v - v_null)``.

    ``v`` is the velocity predicted with the frame's action, ``v_null`` with the null action (the model learns
    both through action dropout). Scales above 1 push the frame further in the direction the action moves it,
    which sharpens action following at some cost in fidelity; 1 returns ``v``.

    ``parallel`` < 1 is projected guidance (APG, Sadat et al. 2024): in clean-frame space (``x0 = x - t v`` at
    the current sample ``x`` and noise level ``t > 0``) the guidance update is split into the part parallel to
    the conditional prediction, which mostly scales contrast and compounds into drift over a long rollout, and
    the orthogonal part, which carries the action; the parallel part is weighted by ``parallel``. Each frame
    ``(C, h, w)`` is projected on its own.
    """
    if parallel == 1.0:
        return v_null + scale * (v - v_null)
    if x is None or t is None:
        raise ValueError("projected guidance (parallel != 1) needs the sample x and its noise level t")
    x0 = x - t * v
    diff = x0 - (x - t * v_null)
    dims = (-3, -2, -1)
    unit = x0 / torch.linalg.vector_norm(x0, dim=dims, keepdim=True).clamp_min(1e-6)
    along = (diff * unit).sum(dims, keepdim=True) * unit
    x0 = x0 + (scale - 1) * (diff - (1 - parallel) * along)
    return (x - x0) / t


@dataclass
class StreamState:
    """Committed context of B independent streams."""

    latents: torch.Tensor  # (B, F, C, h, w) as fed to the model (already context-noised)
    t: torch.Tensor  # (B, F) noise level each committed frame carries
    actions: torch.Tensor  # (B, F) action that led to each frame
    frame_index: int  # absolute index of the next frame


class NoiseSource:
    """All sampling noise, drawn in a fixed order from one generator (so samplers can be compared frame by frame)."""

    generator: torch.Generator | None
    context_noise: float

    def _noise(self, shape: tuple[int, ...], device) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator).to(device)

    def _commit_noise(self, z: torch.Tensor) -> torch.Tensor:
        """Noise a finished frame to the context level, once, as it becomes context (anti-drift)."""
        tau = self.context_noise
        return (1 - tau) * z + tau * self._noise(tuple(z.shape), z.device)


class WindowSampler(NoiseSource):
    """Generate frames by Euler integration of the flow, recomputing the whole window each step.

    Args:
        model: Dynamics transformer (eval mode).
        steps: Denoising steps per frame.
        context_noise: Noise level committed frames carry (small Gaussian noise on context against drift).
        generator: Source of all noise; the same generator state gives the same frames.
        guidance: Classifier-free guidance scale on the new frame's action (see :func:`guided`); 1 disables it.
        guidance_parallel: Weight of the guidance update along the conditional prediction (1 = plain guidance,
            0 = projected guidance; see :func:`guided`).
    """

    def __init__(
        self,
        model: DynamicsTransformer,
        steps: int = 16,
        context_noise: float = 0.05,
        generator: torch.Generator | None = None,
        guidance: float = 1.0,
        guidance_parallel: float = 1.0,
    ) -> None:
        self.model = model
        self.steps = steps
        self.context_noise = context_noise
        self.generator = generator
        self.guidance, self.guidance_parallel = guidance, guidance_parallel

    @torch.no_grad()
    def start(self, latents: torch.Tensor, actions: torch.Tensor) -> StreamState:
        """Begin streams from real context latents ``(B, F, C, h, w)`` and the actions that led to them."""
        b, f = latents.shape[:2]
        t = torch.full((b, f), self.context_noise, device=latents.device)
        return StreamState(self._commit_noise(latents), t, actions.clone(), f)

    def _window(self, state: StreamState) -> StreamState:
        keep = self.model.cfg.context_frames - 1
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
        ts = euler_schedule(self.steps, dev)
        d = step_sizes(self.model, b, acts.shape[1], self.steps, dev, last_only=True)
        for i in range(self.steps):
            t_frame = torch.full((b, 1), float(ts[i]), device=dev)
            window, t_window = torch.cat([ctx.latents, x[:, None]], 1), torch.cat([ctx.t, t_frame], 1)
            v = self.model(window, t_window, acts, d=d)["v"][:, -1]
            if self.guidance != 1.0:
                null = acts.clone()
                null[:, -1] = self.model.cfg.null_action  # the context keeps its real actions
                v_null = self.model(window, t_window, null, d=d)["v"][:, -1]
                v = guided(v, v_null, self.guidance, self.guidance_parallel, x, ts[i])
            x = x + (ts[i + 1] - ts[i]) * v
        committed = self._commit_noise(x)
        t_commit = torch.full((b, 1), self.context_noise, device=dev)
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
