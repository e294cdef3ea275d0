"""The dynamics model: an action-conditioned, block-causal diffusion transformer over frame latents.

Tokens are the latent pixels (or patches) of each frame. Attention is bidirectional within a frame and
causal across frames, so a frame never sees the future and past frames can live in a KV cache. Every
frame is conditioned through adaLN-Zero on its own vector ``c = t_emb(noise level) + a_emb(action)``
(DiT's block, with per-frame instead of per-sample modulation). Heads on each frame's features predict
the reward and termination that came with that frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from worldsim.errors import unknown_name
from worldsim.model.rope import apply_rope, rope_angles, token_positions


@dataclass(frozen=True)
class DynamicsConfig:
    """Shape of the dynamics transformer.

    Attributes:
        latent_channels: Channels of the codec latent.
        latent_height: Latent grid height.
        latent_width: Latent grid width.
        patch_size: Latent pixels per token side (1 = one token per latent pixel).
        dim: Transformer width.
        depth: Number of blocks.
        heads: Attention heads.
        mlp_ratio: MLP hidden size over ``dim``.
        context_frames: Frames the model attends over (training window and inference cache size).
        num_actions: Size of the world's action set; id ``num_actions`` is the null (dropped) action.
        qk_norm: RMS-normalise queries and keys (stabilises training, cheap).
        shortcut: Condition on the step size ``d`` too (shortcut model: one network for 1, 2, 4... steps).
    """

    latent_channels: int = 8
    latent_height: int = 8
    latent_width: int = 8
    patch_size: int = 1
    dim: int = 256
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 4.0
    context_frames: int = 16
    num_actions: int = 7
    qk_norm: bool = True
    shortcut: bool = False

    def __post_init__(self) -> None:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} must be divisible by heads {self.heads}")
        if self.latent_height % self.patch_size or self.latent_width % self.patch_size:
            raise ValueError(
                f"latent {self.latent_height}x{self.latent_width} not divisible by patch {self.patch_size}"
            )
        if self.context_frames < 2:
            raise ValueError("context_frames must be >= 2")
        if self.num_actions < 1:
            raise ValueError("num_actions must be >= 1")

    @property
    def grid(self) -> tuple[int, int]:
        """Token grid ``(rows, cols)`` of one frame."""
        return self.latent_height // self.patch_size, self.latent_width // self.patch_size

    @property
    def tokens_per_frame(self) -> int:
        """Tokens of one frame."""
        return self.grid[0] * self.grid[1]

    @property
    def context_len(self) -> int:
        """Real frames a generation step reads as context (the window holds them plus the frame being made)."""
        return self.context_frames - 1

    @property
    def max_lookahead(self) -> int:
        """Most speculative frames that fit in the window beside the frame being made and its context."""
        return self.context_frames - 2

    @property
    def null_action(self) -> int:
        """Id used for "no action given" (action dropout, first frame of an episode)."""
        return self.num_actions


#: Named sizes. Shape fields not given here (latent size, actions) come from the codec and the dataset.
PRESETS: dict[str, dict] = {
    "tiny": dict(dim=64, depth=2, heads=2, context_frames=6),
    # Real time on a laptop CPU: 2x2 latent patches (16 tokens per 64x64 frame), short context.
    "cpu": dict(dim=192, depth=4, heads=3, patch_size=2, context_frames=8),
    "small": dict(dim=192, depth=6, heads=3, context_frames=12),
    "base": dict(dim=384, depth=12, heads=6, context_frames=16),
    "large": dict(dim=768, depth=16, heads=12, context_frames=32),
    # The paper's scale: ~300M params, 336 tokens per frame (384x224 at /16), 32-frame context.
    "nfd-310m": dict(
        dim=1024, depth=16, heads=16, context_frames=32, latent_channels=16, latent_height=14, latent_width=24
    ),
}


class KVCache:
    """Keys/values of committed frames for B streams: a fixed ring of ``context_frames`` frame slots per stream.

    Shapes never change (gpt-fast style), so a compiled step can be captured once. Slot ``p % C`` holds frame
    ``p``; a new frame at position ``q`` attends to cached frames ``q - C + 1 .. q - 1`` of its stream (exactly
    the reference window) plus the new frames of its own call, block-causally.
    """

    def __init__(self, cfg: DynamicsConfig, batch: int, device=None, dtype: torch.dtype = torch.float32) -> None:
        self.cfg, self.batch = cfg, batch
        n, hd = cfg.tokens_per_frame, cfg.dim // cfg.heads
        shape = (batch, cfg.heads, cfg.context_frames * n, hd)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.depth)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.depth)]
        self.slot_frame = torch.full((batch, cfg.context_frames), -1, dtype=torch.long, device=device)
        self.parent: KVCache | None = None

    def tiled(self, n: int) -> KVCache:
        """A copy holding every stream ``n`` times over (streams ``i``, ``B + i``, ... share stream ``i``'s context).

        Lets one forward call run several variants of each stream against the same past, e.g. the conditional and
        null-action passes of classifier-free guidance.
        """
        out = KVCache.__new__(KVCache)
        out.cfg, out.batch = self.cfg, self.batch * n
        out.k = [k.repeat(n, 1, 1, 1) for k in self.k]
        out.v = [v.repeat(n, 1, 1, 1) for v in self.v]
        out.slot_frame = self.slot_frame.repeat(n, 1)
        out.parent = None
        return out

    def head(self, rows: int) -> KVCache:
        """The first ``rows`` streams of a tiled cache, as a view whose writes go to every tile.

        Reads share this cache's memory; a write stores the keys/values in each copy of those streams, so a guided
        sampler keeps one 2B-stream cache for good instead of copying it every frame.
        """
        out = KVCache.__new__(KVCache)
        out.cfg, out.batch = self.cfg, rows
        out.k = [k[:rows] for k in self.k]
        out.v = [v[:rows] for v in self.v]
        out.slot_frame = self.slot_frame[:rows]
        out.parent = self
        return out

    def mask(self, positions: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Boolean ``(B, 1, F*N, (C+F)*N)``: cached frames in the window, then block-causal new frames."""
        return cached_mask(self.cfg, self.slot_frame, positions, num_frames)

    def write(self, kv: list[tuple[torch.Tensor, torch.Tensor]], positions: torch.Tensor, num_frames: int) -> None:
        """Store the keys/values ``(B, H, F*N, Dh)`` of frames ``positions .. positions + F - 1``."""
        if self.parent is not None:
            tiles = self.parent.batch // self.batch
            kv = [(k.repeat(tiles, 1, 1, 1), v.repeat(tiles, 1, 1, 1)) for k, v in kv]
            self.parent.write(kv, positions.repeat(tiles), num_frames)
            return
        n, ctx = self.cfg.tokens_per_frame, self.cfg.context_frames
        frames = positions[:, None] + torch.arange(num_frames, device=positions.device)  # (B, F)
        slots = frames % ctx
        idx = (slots[:, :, None] * n + torch.arange(n, device=positions.device)).reshape(len(positions), -1)
        for i, (k, v) in enumerate(kv):
            index = idx[:, None, :, None].expand(-1, k.shape[1], -1, k.shape[-1])
            self.k[i].scatter_(2, index, k.to(self.k[i].dtype))
            self.v[i].scatter_(2, index, v.to(self.v[i].dtype))
        self.slot_frame.scatter_(1, slots, frames)


def cached_mask(
    cfg: DynamicsConfig, slot_frame: torch.Tensor, positions: torch.Tensor, num_frames: int
) -> torch.Tensor:
    """Attention mask of ``num_frames`` new frames against a :class:`KVCache` (see :meth:`KVCache.mask`)."""
    n, ctx = cfg.tokens_per_frame, cfg.context_frames
    q = positions[:, None] + torch.arange(num_frames, device=positions.device)  # (B, F) query frames
    sf = slot_frame[:, None, :]  # (B, 1, C)
    cached = (sf >= 0) & (sf < positions[:, None, None]) & (sf > q[:, :, None] - ctx)  # (B, F, C)
    own = torch.ones(num_frames, num_frames, dtype=torch.bool, device=positions.device).tril()
    own = own[None].expand(len(positions), -1, -1)  # (B, F, F)
    frames = torch.cat([cached, own], dim=2)  # (B, F, C+F)
    return frames.repeat_interleave(n, dim=1).repeat_interleave(n, dim=2)[:, None]


def preset(name: str, **overrides) -> DynamicsConfig:
    """A named size, with ``overrides`` (e.g. ``num_actions``, latent shape) applied."""
    if name not in PRESETS:
        raise unknown_name("model size", name, PRESETS)
    return DynamicsConfig(**{**PRESETS[name], **overrides})


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


class RewardHead(nn.Module):
    """Reward and termination logit of each frame from its pooled features and conditioning."""

    def __init__(self, cfg: DynamicsConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(2 * cfg.dim), nn.Linear(2 * cfg.dim, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, 2)
        )

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``(B, F, N, D)``, ``c`` ``(B, F, D)`` -> reward ``(B, F)``, termination logit ``(B, F)``."""
        out = self.net(torch.cat([x.mean(dim=2), c], dim=-1))
        return out[..., 0], out[..., 1]


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
        for mlp in (self.cond.t_mlp,):
            nn.init.normal_(mlp[0].weight, std=0.02)
            nn.init.normal_(mlp[2].weight, std=0.02)
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

    # -- forward ------------------------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        actions: torch.Tensor,
        first_frame: int = 0,
        d: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Full-window forward. Returns ``v`` ``(B, F, C, h, w)``, ``reward`` and ``term_logit`` ``(B, F)``.

        ``d`` ``(B, F)`` is the step size of a shortcut model (ignored otherwise; ``None`` = 0, the flow).
        """
        b, f = x.shape[:2]
        if f > self.cfg.context_frames:
            raise ValueError(f"window of {f} frames exceeds context_frames={self.cfg.context_frames}")
        cos, sin = self.rope(f, first_frame, x.device)
        out, _ = self._run(x, t, actions, d, cos, sin, self.block_causal_mask(f, device=x.device))
        return out

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
        reward, term = self.heads(h, c)
        return {"v": self.unpatchify(self.final(h, c)), "reward": reward, "term_logit": term}, new_kv

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
