"""Pixel reconstruction loss of the codec and its refiner, with an optional up-weighted frame region.

A plain per-pixel loss values every pixel alike, so a small region that carries much of a frame's meaning
(CarRacing's instrument strip: speed, wheel spin, steering and gyro bars in the bottom eighth of the frame) is
blurred away first. A world's codec recipe can name that region and a weight; the loss is then a weighted mean
whose weights average 1, so learning rates and loss scales stay comparable with the unweighted recipe.

Small moving objects have the same problem anywhere in the frame: Breakout's ball is one or two pixels of 4,096,
and the Breakout codec (8x8 latent, plain mean) drops it altogether. **Sprite weights** find such pixels per
frame as the ones that differ from the dataset's background (the per-pixel median of many frames) and weigh
them more. In Breakout most such pixels are knocked-out bricks, the paddle and the score (about 130 per frame,
the ball under one), so **motion weights** aim closer: pixels that changed since the episode's previous frame
(about 19 per frame, the ball's new and old place among them) weigh more. Those are also the pixels that carry
the dynamics a world model is for.

Where the simulator says what each frame shows (VizDoom's labels: a monster's screen box), **label weights** aim
exactly: Doom's monsters have no fixed colour and move with the camera, so neither a background nor a frame
difference singles them out, and the plain codec kept a monster on 23% of the frames that show one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def check_region(region: Sequence[float], weight: float) -> None:
    """Raise ``ValueError`` unless ``region`` is empty or ``(top, bottom, left, right)`` fractions in order."""
    if weight <= 0:
        raise ValueError(f"region_weight must be > 0, got {weight}")
    if len(region) == 0:
        return
    if len(region) != 4:
        raise ValueError(f"region must be (top, bottom, left, right) fractions of the frame, got {list(region)}")
    top, bottom, left, right = region
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise ValueError(f"region needs 0 <= top < bottom <= 1 and 0 <= left < right <= 1, got {list(region)}")


def check_sprites(weight: float, threshold: float, name: str = "sprite") -> None:
    """Raise ``ValueError`` unless a ``{name}_weight`` and its threshold (grey levels) are both positive."""
    if weight <= 0 or threshold <= 0:
        raise ValueError(f"{name}_weight and {name}_threshold must be > 0, got {weight}, {threshold}")


def pixel_weights(
    height: int, width: int, region: Sequence[float], weight: float, device: torch.device | str = "cpu"
) -> torch.Tensor | None:
    """``(1, 1, H, W)`` loss weights with mean 1: ``weight`` times more inside ``region`` than outside.

    ``region`` is ``(top, bottom, left, right)`` as fractions of the frame (rounded to whole pixels); an empty
    region or a weight of 1 gives ``None`` (the plain mean).
    """
    check_region(region, weight)
    if len(region) == 0 or weight == 1:
        return None
    w = torch.ones(1, 1, height, width, device=device)
    w[(..., *region_slices(region, height, width))] = weight
    return w / w.mean()


def background_frame(frames: torch.Tensor) -> torch.Tensor:
    """Per-pixel median ``(1, 3, H, W)`` of frames ``(N, 3, H, W)``: what a fixed-background game shows."""
    return frames.median(0, keepdim=True).values


def sprite_weights(
    x: torch.Tensor, background: torch.Tensor, weight: float, threshold: float, base: torch.Tensor | None = None
) -> torch.Tensor:
    """``(B, 1, H, W)`` loss weights with mean 1 for frames ``x`` ``(B, 3, H, W)`` in model units.

    Pixels whose largest channel differs from ``background`` by at least ``threshold`` grey levels weigh
    ``weight`` times more; ``base`` (e.g. :func:`pixel_weights`) multiplies in.
    """
    return boosted(differs(x, background, threshold), weight, base)


def motion_weights(
    x: torch.Tensor, prev: torch.Tensor, weight: float, threshold: float, base: torch.Tensor | None = None
) -> torch.Tensor:
    """``(B, 1, H, W)`` loss weights with mean 1: pixels of ``x`` that changed since ``prev`` weigh ``weight``.

    Both are ``(B, 3, H, W)`` in model units; a pixel changed if its largest channel moved by at least
    ``threshold`` grey levels. For an episode's first frame pass the frame itself (nothing moved).
    """
    return boosted(differs(x, prev, threshold), weight, base)


def differs(x: torch.Tensor, ref: torch.Tensor, threshold: float) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: pixels whose largest channel differs between ``x`` and ``ref`` by ``threshold`` levels."""
    return (x - ref).abs().amax(1, keepdim=True) >= threshold * 2.0 / 255.0


def boosted(mask: torch.Tensor, weight: float, base: torch.Tensor | None = None) -> torch.Tensor:
    """Weights with mean 1 per batch: ``weight`` where ``mask``, 1 elsewhere, times ``base`` if given."""
    w = 1.0 + (weight - 1.0) * mask.float()
    if base is not None:
        w = w * base
    return w / w.mean()


def label_mask(labels: np.ndarray, height: int, width: int) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: pixels inside any labelled box of each frame.

    ``labels`` are a dataset's ``(B, K, 5)`` rows ``[kind, x0, y0, x1, y1]`` (pixels; kind 0 = empty row), see
    docs/dataset.md. A box covers every pixel it touches.
    """
    mask = np.zeros((len(labels), 1, height, width), bool)
    for b, k in zip(*np.nonzero(labels[..., 0] > 0), strict=True):
        x0, y0, x1, y1 = labels[b, k, 1:]
        c0, r0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        c1, r1 = min(int(np.ceil(x1)), width), min(int(np.ceil(y1)), height)
        mask[b, 0, r0:r1, c0:c1] = True
    return torch.from_numpy(mask)


def frame_weights(
    x: torch.Tensor,
    base: torch.Tensor | None,
    background: torch.Tensor | None = None,
    sprite: tuple[float, float] = (1.0, 30.0),
    prev: torch.Tensor | None = None,
    motion: tuple[float, float] = (1.0, 30.0),
    boxes: torch.Tensor | None = None,
    label_weight: float = 1.0,
) -> torch.Tensor | None:
    """Loss weights of frames ``x``: ``base`` (region weights or ``None``) with sprite, motion and label weights.

    ``sprite`` and ``motion`` are ``(weight, threshold)``; each applies when its weight is not 1 and its reference
    (``background``, ``prev``) is given; ``boxes`` (:func:`label_mask`) weigh ``label_weight``. ``None`` means the
    plain mean.
    """
    w = base
    if background is not None and sprite[0] != 1:
        w = sprite_weights(x, background, *sprite, base=w)
    if prev is not None and motion[0] != 1:
        w = motion_weights(x, prev, *motion, base=w)
    if boxes is not None and label_weight != 1:
        w = boosted(boxes.to(x.device), label_weight, base=w)
    return w


def region_slices(region: Sequence[float], height: int, width: int) -> tuple[slice, slice]:
    """Row and column slices of a ``(top, bottom, left, right)`` fractional region, rounded to whole pixels."""
    top, bottom, left, right = region
    return slice(round(top * height), round(bottom * height)), slice(round(left * width), round(right * width))


def reconstruction_loss(
    y: torch.Tensor, x: torch.Tensor, weights: torch.Tensor | None, mse_weight: float = 1.0, l1_weight: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss, mse, l1)`` of output ``y`` against target ``x`` ``(B, 3, H, W)``.

    ``loss`` is the weighted ``mse_weight * MSE + l1_weight * L1``; the returned ``mse`` and ``l1`` are the plain
    (unweighted) means, so PSNR derived from them stays comparable across recipes.
    """
    diff = y - x
    sq, ab = diff.pow(2), diff.abs()
    mse, l1 = sq.mean(), ab.mean()
    if weights is None:
        return mse_weight * mse + l1_weight * l1, mse, l1
    return mse_weight * (sq * weights).mean() + l1_weight * (ab * weights).mean(), mse, l1
