"""The dynamics model: an action-conditioned, block-causal diffusion transformer over frame latents.

Tokens are the latent pixels (or patches) of each frame. Attention is bidirectional within a frame and
causal across frames, so a frame never sees the future and past frames can live in a KV cache. Every
frame is conditioned through adaLN-Zero on its own vector ``c = t_emb(noise level) + a_emb(action)``
(DiT's block, with per-frame instead of per-sample modulation). Heads on each frame's features predict
the reward and termination that came with that frame.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from worldsim.model.cache import KVCache, cached_mask
from worldsim.model.config import PRESETS, DynamicsConfig, preset
from worldsim.model.rope import apply_rope, rope_angles, token_positions

__all__ = ["PRESETS", "DynamicsConfig", "DynamicsTransformer", "KVCache", "cached_mask", "preset"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of noise levels ``t`` in [0, 1] (any shape) -> ``(*t.shape, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (1000.0 * t.float())[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """AdaLN modulation; ``shift``/``scale`` are per frame ``(B, F, 1, D)`` and broadcast over tokens."""
    return x * (1 + scale) + shift


class Conditioning(nn.Module):
    """Per-frame conditioning vector from the frame's noise level, action and (shortcut models) step size."""

    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.t_mlp = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim))
        self.action = nn.Embedding(cfg.num_actions + 1, cfg.dim)
        self.d_mlp = (
            nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim)) if cfg.shortcut else None
        )
        self.dim = cfg.dim

    def forward(self, t: torch.Tensor, actions: torch.Tensor, d: torch.Tensor | None = None) -> torch.Tensor:
        """``t``, ``actions``, ``d``: ``(B, F)`` -> ``c``: ``(B, F, D)``. ``d = 0`` is the plain flow."""
        c = self.t_mlp(timestep_embedding(t, self.dim)) + self.action(actions)
        if self.d_mlp is not None:
            c = c + self.d_mlp(timestep_embedding(torch.zeros_like(t) if d is None else d, self.dim))
        return c


class Attention(nn.Module):
    """Multi-head self-attention with 3-D RoPE, QK-norm and optional past keys/values."""

    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.heads, self.head_dim = cfg.heads, cfg.dim // cfg.heads
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.q_norm = nn.RMSNorm(self.head_dim, eps=1e-6) if cfg.qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(self.head_dim, eps=1e-6) if cfg.qk_norm else nn.Identity()

    def qkv_heads(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Queries, keys, values ``(B, H, L, Dh)`` of tokens ``x`` ``(B, L, D)``, rotated to their positions."""
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # 3 x (B, H, L, Dh)
        q, k = self.q_norm(q), self.k_norm(k)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``x`` ``(B, L, D)``; ``past`` keys/values are prepended. Returns output and this call's (k, v)."""
        q, k, v = self.qkv_heads(x, cos, sin)
        k_all, v_all = (torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)) if past is not None else (k, v)
        out = F.scaled_dot_product_attention(q, k_all, v_all, attn_mask=mask)  # (B, H, L, Dh)
        b, _, n, _ = out.shape
        return self.proj(out.transpose(1, 2).reshape(b, n, -1)), (k, v)


class Block(nn.Module):
    """DiT block with adaLN-Zero, modulated per frame."""

    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        hidden = int(cfg.dim * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, cfg.dim))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cfg.dim, 6 * cfg.dim))

    def forward(self, x, c, cos, sin, mask, past=None):
        """``x`` ``(B, F, N, D)``, ``c`` ``(B, F, D)``. Returns new ``x`` and this block's (k, v)."""
        b, f, n, d = x.shape
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c).unsqueeze(2).chunk(6, dim=-1)  # (B, F, 1, D)
        h = modulate(self.norm1(x), shift1, scale1).reshape(b, f * n, d)
        h, kv = self.attn(h, cos, sin, mask, past)
        x = x + gate1 * h.view(b, f, n, d)
        x = x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x, kv


class FinalLayer(nn.Module):
    """adaLN then a linear map from tokens to latent patches (zero-initialised)."""

    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(cfg.dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cfg.dim, 2 * cfg.dim))
        self.linear = nn.Linear(cfg.dim, cfg.patch_size**2 * cfg.latent_channels)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``(B, F, N, D)`` -> ``(B, F, N, p*p*C)``."""
        shift, scale = self.ada(c).unsqueeze(2).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


def symexp(x: torch.Tensor) -> torch.Tensor:
    """``sign(x) * (exp(|x|) - 1)``, the inverse of symlog: even steps in x are fine near 0, coarse far out."""
    return torch.sign(x) * torch.expm1(x.abs())


def reward_support(bins: int, limit: float) -> torch.Tensor:
    """The ``bins`` reward values of a distributional head: even in symlog over ``[-limit, limit]``, 0 included."""
    edge = math.log1p(limit)
    support = symexp(torch.linspace(-edge, edge, bins))
    support[bins // 2] = 0.0  # exactly: most steps of a sparse-reward world are worth 0
    return support


def two_hot(values: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """``values`` ``(...)`` as weights ``(..., K)`` on their two neighbouring ``support`` values (mean exact)."""
    v = values.float().clamp(float(support[0]), float(support[-1]))
    hi = torch.bucketize(v, support).clamp(1, len(support) - 1)
    lo = hi - 1
    w_hi = ((v - support[lo]) / (support[hi] - support[lo])).clamp(0, 1)
    out = torch.zeros(*v.shape, len(support), device=v.device)
    out.scatter_(-1, lo[..., None], (1 - w_hi)[..., None])
    out.scatter_add_(-1, hi[..., None], w_hi[..., None])
    return out


class RewardHead(nn.Module):
    """Reward and termination logit of each frame from its pooled features and conditioning.

    With ``cfg.reward_bins`` the reward is the mean of a predicted distribution over :func:`reward_support`
    (its logits are returned too, for training); otherwise one regressed number.
    """

    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.bins = cfg.reward_bins
        # A distributional head reads every token through a small network first and max-pools too: a struck
        # brick or a hit enemy is one token of 16 or 64, which a mean over tokens dilutes that many times.
        width = (3 if self.bins else 2) * cfg.dim
        self.token = nn.Sequential(nn.LayerNorm(cfg.dim), nn.Linear(cfg.dim, cfg.dim), nn.SiLU()) if self.bins else None
        self.net = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, cfg.dim),
            nn.SiLU(),
            nn.Linear(cfg.dim, (self.bins or 1) + 1),
        )
        self.limit = cfg.reward_limit

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x`` ``(B, F, N, D)``, ``c`` ``(B, F, D)`` -> ``reward``, ``term_logit`` ``(B, F)`` [, ``reward_logits``].

        ``reward_logits`` ``(B, F, K)`` come with a distributional head only.
        """
        if self.token is not None:
            tokens = self.token(x)
            pooled = [x.mean(dim=2), tokens.amax(dim=2)]
        else:
            pooled = [x.mean(dim=2)]
        out = self.net(torch.cat([*pooled, c], dim=-1))
        if not self.bins:
            return {"reward": out[..., 0], "term_logit": out[..., 1]}
        logits = out[..., : self.bins]
        # float32 throughout: the support is made here, not kept as a buffer a bf16 cast would round, and a
        # sum of products rather than a matmul, which bf16 autocast would run in bf16 (3.2 -> 3.19).
        support = reward_support(self.bins, self.limit).to(logits.device)
        reward = (torch.softmax(logits.float(), dim=-1) * support).sum(dim=-1)
        return {"reward": reward, "term_logit": out[..., self.bins], "reward_logits": logits}


class DynamicsTransformer(nn.Module):
    """Predicts the flow-matching velocity of every frame of a window, plus reward and termination.

    ``forward(x, t, actions)`` takes noisy latents ``x`` ``(B, F, C, h, w)``, per-frame noise levels ``t``
    ``(B, F)`` in [0, 1] (0 = clean) and per-frame actions ``(B, F)`` (the action that led to each frame;
    ``cfg.null_action`` when unknown) and returns the velocity ``(B, F, C, h, w)`` with ``v = noise - x0``.
    """

    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.cfg = cfg
        p, c = cfg.patch_size, cfg.latent_channels
        self.patch_in = nn.Linear(p * p * c, cfg.dim)
        self.cond = Conditioning(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.final = FinalLayer(cfg)
        self.heads = RewardHead(cfg)
        self.head_dim = cfg.dim // cfg.heads
        self._init_weights()

    def _init_weights(self) -> None:
        # DiT initialisation: xavier linears, zeroed adaLN and output so a fresh block is the identity.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.cond.action.weight, std=0.02)
        nn.init.normal_(self.cond.t_mlp[0].weight, std=0.02)
        nn.init.normal_(self.cond.t_mlp[2].weight, std=0.02)
        if self.cond.d_mlp is not None:  # zero: a teacher gains step-size conditioning without changing
            nn.init.zeros_(self.cond.d_mlp[2].weight)
            nn.init.zeros_(self.cond.d_mlp[2].bias)
        for block in self.blocks:
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        nn.init.zeros_(self.final.ada[-1].weight)
        nn.init.zeros_(self.final.ada[-1].bias)
        nn.init.zeros_(self.final.linear.weight)
        nn.init.zeros_(self.final.linear.bias)

    # -- tokens <-> latents -------------------------------------------------------------------------
    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, F, C, h, w)`` -> ``(B, F, N, p*p*C)``."""
        b, f, c, h, w = x.shape
        p = self.cfg.patch_size
        x = x.view(b, f, c, h // p, p, w // p, p).permute(0, 1, 3, 5, 4, 6, 2)  # (B, F, h/p, w/p, p, p, C)
        return x.reshape(b, f, (h // p) * (w // p), p * p * c)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, F, N, p*p*C)`` -> ``(B, F, C, h, w)``."""
        b, f, _, _ = x.shape
        p, c = self.cfg.patch_size, self.cfg.latent_channels
        gh, gw = self.cfg.grid
        x = x.view(b, f, gh, gw, p, p, c).permute(0, 1, 6, 2, 4, 3, 5)  # (B, F, C, h/p, p, w/p, p)
        return x.reshape(b, f, c, gh * p, gw * p)

    # -- attention geometry -------------------------------------------------------------------------
    def rope(self, num_frames: int, first_frame: int = 0, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin ``(F*N, Dh/2)`` for ``num_frames`` frames starting at absolute frame ``first_frame``."""
        gh, gw = self.cfg.grid
        angles = rope_angles(*token_positions(num_frames, gh, gw, first_frame, device), self.head_dim)
        return angles.cos(), angles.sin()

    def block_causal_mask(self, num_frames: int, past_frames: int = 0, device=None) -> torch.Tensor:
        """Boolean ``(F*N, (P+F)*N)`` mask: a token sees every token of its own and earlier frames."""
        n = self.cfg.tokens_per_frame
        q_frame = torch.arange(past_frames, past_frames + num_frames, device=device).repeat_interleave(n)
        k_frame = torch.arange(past_frames + num_frames, device=device).repeat_interleave(n)
        return q_frame[:, None] >= k_frame[None, :]

    def teacher_forced_mask(self, num_frames: int, device=None) -> torch.Tensor:
        """Boolean ``(2F*N, 2F*N)`` mask of a window's clean copy followed by its noisy copy.

        A clean frame sees the clean frames up to itself (the commit pass); a noisy frame sees the clean frames
        before it and itself (the denoising pass of a sampled frame), never another noisy frame.
        """
        n = self.cfg.tokens_per_frame
        frame = torch.arange(num_frames, device=device).repeat_interleave(n).repeat(2)
        noisy = torch.arange(2 * num_frames * n, device=device) >= num_frames * n
        qf, kf, qn, kn = frame[:, None], frame[None, :], noisy[:, None], noisy[None, :]
        return ~kn & ((~qn & (kf <= qf)) | (qn & (kf < qf))) | (qn & kn & (kf == qf))

    # -- forward ------------------------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        actions: torch.Tensor,
        first_frame: int = 0,
        d: torch.Tensor | None = None,
        clean: torch.Tensor | None = None,
        t_clean: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Full-window forward. Returns ``v`` ``(B, F, C, h, w)``, ``reward`` and ``term_logit`` ``(B, F)``.

        ``d`` ``(B, F)`` is the step size of a shortcut model (ignored otherwise; ``None`` = 0, the flow).
        With ``clean`` (the same window at levels ``t_clean``), teacher-forced: frame ``i`` of ``x`` is denoised
        against clean frames ``0 .. i-1`` only, as the cached sampler does after committing them, and ``reward``
        and ``term_logit`` are read from the clean frames, as the commit pass reads them.
        """
        b, f = x.shape[:2]
        if f > self.cfg.context_frames:
            raise ValueError(f"window of {f} frames exceeds context_frames={self.cfg.context_frames}")
        cos, sin = self.rope(f, first_frame, x.device)
        if clean is None:
            out, _ = self._run(x, t, actions, d, cos, sin, self.block_causal_mask(f, device=x.device))
            return out
        # One pass over both copies; the mask keeps each noisy frame to the clean frames before it.
        d2 = None if d is None else torch.cat([torch.zeros_like(d), d], dim=1)
        xs, ts, acts = torch.cat([clean, x], 1), torch.cat([t_clean, t], 1), torch.cat([actions, actions], 1)
        mask = self.teacher_forced_mask(f, x.device)
        out, _ = self._run(xs, ts, acts, d2, torch.cat([cos, cos]), torch.cat([sin, sin]), mask)
        return {"v": out["v"][:, f:], **{k: v[:, :f] for k, v in out.items() if k != "v"}}

    def forward_cached(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        actions: torch.Tensor,
        positions: torch.Tensor,
        cache: KVCache,
        commit: bool = False,
        d: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Forward of ``F`` new frames per stream against the cached past frames.

        Args:
            x: Noisy latents of the new frames ``(B, F, C, h, w)``.
            t: Their noise levels ``(B, F)``.
            actions: Their actions ``(B, F)``.
            positions: Absolute frame index of each stream's first new frame ``(B,)``.
            cache: Keys/values of committed frames (see :class:`KVCache`).
            commit: Write the new frames' keys/values into the cache (they become context).
            d: Step sizes ``(B, F)`` of a shortcut model.

        Returns:
            Same keys as :meth:`forward`, for the new frames only.
        """
        out, new_kv = self.step_tokens(x, t, actions, positions, cache.k, cache.v, cache.slot_frame, d)
        if commit:
            cache.write(new_kv, positions, x.shape[1])
        return out

    def step_tokens(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        actions: torch.Tensor,
        positions: torch.Tensor,
        cache_k: list[torch.Tensor],
        cache_v: list[torch.Tensor],
        slot_frame: torch.Tensor,
        d: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        """Pure version of :meth:`forward_cached` (no cache mutation), the unit exported to ONNX/TensorRT.

        Returns the outputs and the new frames' keys/values per block, each ``(B, H, F*N, Dh)``.
        """
        f = x.shape[1]
        cos, sin = self.rope_at(positions, f)
        mask = cached_mask(self.cfg, slot_frame, positions, f)
        return self._run(x, t, actions, d, cos, sin, mask, list(zip(cache_k, cache_v, strict=True)))

    def _run(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        actions: torch.Tensor,
        d: torch.Tensor | None,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor,
        past: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[dict[str, torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        """The one block loop: tokens of ``x`` through every block (with each block's ``past`` keys/values)."""
        h = self.patch_in(self.patchify(x))  # (B, F, N, D)
        c = self.cond(t, actions, d)  # (B, F, D)
        new_kv = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, c, cos, sin, mask, past=None if past is None else past[i])
            new_kv.append(kv)
        return {"v": self.unpatchify(self.final(h, c)), **self.heads(h, c)}, new_kv

    @property
    def cache_dtype(self) -> torch.dtype:
        """Dtype of the KV cache: that of the weights."""
        return next(self.parameters()).dtype

    def rope_at(self, positions: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-stream cos/sin ``(B, 1, F*N, Dh/2)`` for frames ``positions[b] .. positions[b] + F - 1``."""
        gh, gw = self.cfg.grid
        f, r, c = token_positions(num_frames, gh, gw, 0, positions.device)  # (L,)
        frames = positions[:, None] + f[None]  # (B, L)
        angles = rope_angles(frames, r.expand_as(frames), c.expand_as(frames), self.head_dim)  # (B, L, Dh/2)
        return angles.cos()[:, None], angles.sin()[:, None]

    def num_params(self) -> int:
        """Trainable parameter count."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
