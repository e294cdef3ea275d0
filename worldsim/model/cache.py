"""The KV cache of committed frames, and the attention mask of new frames against it."""

from __future__ import annotations

import torch

from worldsim.model.config import DynamicsConfig


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
