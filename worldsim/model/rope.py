"""Factorised 3-D rotary position embeddings over (frame, row, column).

The head dimension is split into three parts, one rotary frequency set per axis (HunyuanVideo / NFD
style). Angles for a token are the concatenation of its three axes' angles, applied with the usual
rotate-half rotation. Only position differences matter in attention, so absolute frame indices are fine
for sliding windows.
"""

from __future__ import annotations

import torch


def axis_split(head_dim: int) -> tuple[int, int, int]:
    """Rotary dims per axis (frame, row, col); each even, frame gets the remainder."""
    if head_dim % 2:
        raise ValueError(f"head_dim must be even for rotary embeddings, got {head_dim}")
    spatial = 2 * (head_dim // 6)
    return head_dim - 2 * spatial, spatial, spatial


def rope_angles(
    frames: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, head_dim: int, theta: float = 10_000.0
) -> torch.Tensor:
    """Angles ``(..., head_dim // 2)`` for tokens at integer positions ``frames``/``rows``/``cols`` (each ``(...)``)."""
    parts = []
    for pos, dim in zip((frames, rows, cols), axis_split(head_dim), strict=True):
        if dim == 0:
            continue
        freqs = theta ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim)
        parts.append(pos.to(torch.float64)[..., None] * freqs)
    return torch.cat(parts, dim=-1).float()


def token_positions(num_frames: int, height: int, width: int, first_frame: int = 0, device=None) -> tuple:
    """Integer (frame, row, col) of every token of ``num_frames`` frames, frame-major then row-major."""
    f = torch.arange(first_frame, first_frame + num_frames, device=device)
    r = torch.arange(height, device=device)
    c = torch.arange(width, device=device)
    ff, rr, cc = torch.meshgrid(f, r, c, indexing="ij")
    return ff.reshape(-1), rr.reshape(-1), cc.reshape(-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ``(B, H, L, D)`` by angles ``cos``/``sin`` of shape ``(L, D // 2)`` or ``(B, 1, L, D // 2)``."""
    x1, x2 = x.float().chunk(2, dim=-1)
    out = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return out.type_as(x)
