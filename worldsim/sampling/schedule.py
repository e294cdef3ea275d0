"""What both samplers share: the noise schedule, the noise source, step-size conditioning and action guidance."""

from __future__ import annotations

import torch

from worldsim.sampling.config import SamplingConfig


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


class NoiseSource:
    """All sampling noise, drawn in a fixed order from one generator (so samplers can be compared frame by frame)."""

    generator: torch.Generator | None
    sampling: SamplingConfig

    def _noise(self, shape: tuple[int, ...], device) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator).to(device)

    def _commit_noise(self, z: torch.Tensor) -> torch.Tensor:
        """Noise a finished frame to the context level, once, as it becomes context (anti-drift)."""
        tau = self.sampling.context_noise
        return (1 - tau) * z + tau * self._noise(tuple(z.shape), z.device)
