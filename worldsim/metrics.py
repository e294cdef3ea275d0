"""Metrics for comparing rollouts with recordings: frames, rewards and terminations.

Frame quality (PSNR, SSIM, moving-pixel recall): every frame metric takes uint8 frames ``[..., H, W, 3]`` (data
range 255) and returns one value per frame, shape ``[...]``, so a batch of rollouts ``[E, T, H, W, 3]`` gives an
``[E, T]`` table that :func:`band_means` summarises by horizon band.

:func:`reward_scores` and :func:`termination_scores` compare predicted rewards and terminations with real ones.

>>> x = np.zeros((2, 8, 8, 3), np.uint8)
>>> psnr(x, x + 10).round(2).tolist()
[28.13, 28.13]
>>> ssim(x, x).tolist()
[1.0, 1.0]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

PSNR_CAP_DB = 100.0
"""PSNR reported for identical frames (and the ceiling of every PSNR), so means and plots stay finite.

An error of a single grey level on a single pixel of a 64x64 frame already scores ~84 dB, so 100 dB never
hides a real difference at the resolutions we use."""

HORIZON_BANDS: dict[str, tuple[int, int]] = {"1": (1, 1), "2-4": (2, 4), "5-16": (5, 16), "17-64": (17, 64)}
"""Horizon bands, inclusive and 1-based: horizon 1 is the first frame generated after the context."""

MOTION_THRESHOLD = 30
"""Grey levels (largest channel) a pixel must change by between two frames to count as moving.

Whole-frame PSNR barely notices a small moving object: Breakout's ball is one or two pixels of 4,096, and a
world whose codec dropped it still beat copy-last. Moving pixels are where the dynamics show, so they are
scored on their own (:func:`moving_recall`, and moving-pixel counts in the report)."""

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
_DATA_RANGE = 255.0


def _check_pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    if pred.ndim < 3 or pred.shape[-1] != 3:
        raise ValueError(f"expected RGB frames [..., H, W, 3], got shape {pred.shape}")
    return pred, target


def psnr(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Peak signal-to-noise ratio per frame, in dB, with data range 255.

    The mean squared error is taken over all pixels and the three channels of each frame. Identical frames
    would give infinity; they score :data:`PSNR_CAP_DB` (100 dB) instead, and no frame scores more.

    Args:
        pred: Predicted frames, uint8 ``[..., H, W, 3]``.
        target: Reference frames of the same shape.

    Returns:
        float64 array of shape ``[...]``.
    """
    pred, target = _check_pair(pred, target)
    diff = pred.astype(np.float64) - target.astype(np.float64)
    mse = np.mean(diff * diff, axis=(-3, -2, -1))
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(_DATA_RANGE**2 / mse)
    return np.minimum(out, PSNR_CAP_DB)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian taps (the 2-D SSIM window is their outer product)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    w = np.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def ssim(pred: np.ndarray, target: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Structural similarity per frame (Wang et al., 2004), averaged over the R, G and B channels.

    Standard constants: an 11x11 Gaussian window with sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, data range
    255, population (not sample) statistics, and only windows that lie fully inside the frame ("valid"
    filtering, as in the reference MATLAB code). Each channel's SSIM map is averaged over positions, then
    the three channel means are averaged, which matches ``skimage.metrics.structural_similarity(...,
    channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)``.
    Frames smaller than 11 pixels use the largest odd window that fits.

    Args:
        pred: Predicted frames, uint8 ``[..., H, W, 3]``.
        target: Reference frames of the same shape.
        chunk: Frames processed at once (bounds memory on long rollouts).

    Returns:
        float64 array of shape ``[...]`` in ``[-1, 1]``; 1 means identical.
    """
    import torch  # deferred: keeps ``import worldsim.eval`` light
    import torch.nn.functional as F

    pred, target = _check_pair(pred, target)
    lead, (h, w) = pred.shape[:-3], pred.shape[-3:-1]
    size = min(SSIM_WINDOW, h - (1 - h % 2), w - (1 - w % 2))
    taps = torch.from_numpy(gaussian_window(size, SSIM_SIGMA)).float()
    # Separable window as two depthwise convolutions; 5 maps x 3 channels go through at once.
    kh = taps.view(1, 1, size, 1).repeat(15, 1, 1, 1)
    kw = taps.view(1, 1, 1, size).repeat(15, 1, 1, 1)
    c1, c2 = (SSIM_K1 * _DATA_RANGE) ** 2, (SSIM_K2 * _DATA_RANGE) ** 2
    flat_p = pred.reshape(-1, h, w, 3)
    flat_t = target.reshape(-1, h, w, 3)
    out = np.empty(len(flat_p), dtype=np.float64)
    for start in range(0, len(flat_p), chunk):
        # float32 is ~7x faster than float64 on CPU; centring on 128 keeps E[x^2] - E[x]^2 from cancelling
        # badly (errors stay ~1e-5), and the shift is added back to the means for the luminance term.
        x = _to_chw(flat_p[start : start + chunk])
        y = _to_chw(flat_t[start : start + chunk])
        maps = torch.cat([x, y, x * x, y * y, x * y], dim=1)
        filt = F.conv2d(F.conv2d(maps, kh, groups=15), kw, groups=15).double()
        mx, my, xx, yy, xy = filt.split(3, dim=1)
        vx, vy, cxy = xx - mx * mx, yy - my * my, xy - mx * my
        mx, my = mx + 128.0, my + 128.0
        num = (2 * mx * my + c1) * (2 * cxy + c2)
        den = (mx * mx + my * my + c1) * (vx + vy + c2)
        out[start : start + len(x)] = (num / den).mean(dim=(1, 2, 3)).numpy()
    return out.reshape(lead)


def moving(frames: np.ndarray, previous: np.ndarray, threshold: float = MOTION_THRESHOLD) -> np.ndarray:
    """``[..., H, W]`` bool: pixels whose largest channel changed by ``threshold`` levels or more since ``previous``.

    >>> a = np.zeros((1, 2, 2, 3), np.uint8); b = a.copy(); b[0, 0, 0, 1] = 40
    >>> moving(b, a).sum().item()
    1
    """
    frames, previous = _check_pair(frames, previous)
    return (np.abs(frames.astype(np.int16) - previous.astype(np.int16)).max(-1)) >= threshold


def moving_recall(
    pred: np.ndarray, target: np.ndarray, previous: np.ndarray, threshold: float = MOTION_THRESHOLD
) -> np.ndarray:
    """Share of each target frame's moving pixels that ``pred`` shows within ``threshold`` levels, ``[...]``.

    A pixel of ``target`` is moving if it changed by ``threshold`` or more since ``previous`` (the real frame
    before it); it is recalled if ``pred``'s largest channel error there is under ``threshold``. That checks both
    ends of a motion: an object drawn where it went and erased where it was. NaN where nothing moved.
    """
    return recall_at(pred, target, moving(target, previous, threshold), threshold)


def recall_at(
    pred: np.ndarray, target: np.ndarray, mask: np.ndarray, threshold: float = MOTION_THRESHOLD
) -> np.ndarray:
    """:func:`moving_recall` with the moving pixels ``mask`` ``[..., H, W]`` already found (to score several preds)."""
    pred, target = _check_pair(pred, target)
    hit = (np.abs(pred.astype(np.int16) - target.astype(np.int16)).max(-1) < threshold) & mask
    count = mask.sum((-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, hit.sum((-2, -1)) / count, np.nan)


def finite_mean(values: np.ndarray) -> float:
    """Mean of the finite entries of ``values``; NaN when there are none (e.g. a recall where nothing moved).

    >>> finite_mean(np.array([1.0, np.nan, 3.0])), bool(np.isnan(finite_mean(np.array([np.nan]))))
    (2.0, True)
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else float("nan")


def _to_chw(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` to float32 ``[N, 3, H, W]`` centred on 128."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() - 128.0


def band_means(per_horizon: np.ndarray, bands: dict[str, tuple[int, int]] | None = None) -> dict[str, float]:
    """Mean of a per-horizon table within each horizon band.

    Args:
        per_horizon: ``[E, H]`` values (episode x horizon, column ``j`` is horizon ``j + 1``), or ``[H]``.
            NaN entries (e.g. padding after an episode ended) are ignored.
        bands: Band name to inclusive 1-based ``(first, last)`` horizon; defaults to :data:`HORIZON_BANDS`.

    Returns:
        ``{band: mean}`` over the entries of every band that starts within the available horizon and has at
        least one finite entry. A band only partly covered (e.g. ``"17-64"`` with ``H = 32``) is averaged over
        the horizons that exist; bands past the end are left out rather than reported as NaN.

    >>> band_means(np.array([[1.0, 2.0, 4.0]]))
    {'1': 1.0, '2-4': 3.0}
    """
    table = np.asarray(per_horizon, dtype=np.float64)
    if table.ndim == 1:
        table = table[None]
    if table.ndim != 2:
        raise ValueError(f"per_horizon must be [E, H] or [H], got shape {table.shape}")
    out: dict[str, float] = {}
    for name, (lo, hi) in (HORIZON_BANDS if bands is None else bands).items():
        values = table[:, lo - 1 : min(hi, table.shape[1])]
        values = values[np.isfinite(values)]
        if values.size:
            out[name] = float(values.mean())
    return out


def reward_scores(pred: np.ndarray, real: np.ndarray) -> dict[str, Any]:
    """How well predicted rewards match real ones, any shape.

    ``mae`` against ``mae_zero_baseline`` (always predicting 0), Pearson ``correlation``, and for worlds whose
    reward is mostly one value (sparse events: a brick, a kill, a tile on top of CarRacing's -0.1 a frame)
    ``events``: a step is an event when its reward is off the usual value by more than half a typical event,
    and ``recall``/``precision`` say whether the prediction found them (None when the reward is not sparse).
    """
    pred, real = np.asarray(pred, np.float64).ravel(), np.asarray(real, np.float64).ravel()
    spread = pred.std() * real.std()
    out: dict[str, Any] = {
        "mae": float(np.abs(pred - real).mean()),
        "mae_zero_baseline": float(np.abs(real).mean()),
        "correlation": float(np.mean((pred - pred.mean()) * (real - real.mean())) / spread) if spread > 0 else math.nan,
        "events": None,
    }
    values, counts = np.unique(real.round(4), return_counts=True)
    usual = float(values[counts.argmax()]) if len(values) else 0.0
    off = np.abs(real - usual) > 1e-3
    if len(real) and 0 < off.sum() <= len(real) / 2:
        threshold = 0.5 * float(np.percentile(np.abs(real[off] - usual), 10))
        found, happened = np.abs(pred - usual) > threshold, np.abs(real - usual) > threshold
        hits = int((found & happened).sum())
        out["events"] = {
            "usual_reward": usual,
            "threshold": threshold,
            "real": int(happened.sum()),
            "predicted": int(found.sum()),
            "recall": hits / int(happened.sum()) if happened.any() else math.nan,
            "precision": hits / int(found.sum()) if found.any() else math.nan,
        }
    return out


def termination_scores(prob: np.ndarray, real: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Accuracy, precision and recall of predicted termination probabilities ``prob >= threshold``, any shape."""
    pred, real = np.asarray(prob) >= threshold, np.asarray(real).astype(bool)
    tp = int((pred & real).sum())
    return {
        "threshold": threshold,
        "accuracy": float(np.mean(pred == real)),
        "precision": tp / int(pred.sum()) if pred.any() else math.nan,
        "recall": tp / int(real.sum()) if real.any() else math.nan,
        "positives": int(real.sum()),
        "predicted_positives": int(pred.sum()),
    }
