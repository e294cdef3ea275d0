"""Doom probes: monsters and projectiles on screen, read from 64x64 frames by a small detector.

Unlike Breakout's ball, a Doom monster has no fixed colour or shape: it is seen from any side, near or far, lit
or in shadow. So this probe is learned: :class:`EnemyDetector` is trained on real frames against VizDoom's own
labels, recorded with every Doom dataset (:meth:`~worldsim.sources.doom.DoomWorld.frame_labels`), and checked
on labels of episodes it never saw (``scripts/train_doom_detector.py``, which writes its precision and recall).
It then reads real and generated frames alike, so ``worldsim eval doom`` can say whether the monsters of the
context, and the ones that appear, are still drawn.

Targets: the 8x8 grid of cells (8x8 pixels each) that hold the centre of a monster box at least
:data:`MIN_HEIGHT` pixels tall (a monster smaller than that is a few pixels of noise at 64x64), and likewise
for projectiles. A frame shows a monster when any cell's probability passes the detector's threshold, chosen on
held-out episodes of its training data to balance precision and recall (the loss weighs the rare positive cells
up, so 0.5 would over-report).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from worldsim.checkpoint import load_checkpoint, load_module, module_tensors, save_checkpoint
from worldsim.probes.frames import PROBE_SIZE, at_probe_size

log = logging.getLogger(__name__)

KIND = "doom_detector"
#: Grid cells per side (each covers 8x8 pixels of the 64x64 frame).
GRID = 8
#: Monster and projectile boxes shorter than this (64x64 pixels) are not targets.
MIN_HEIGHT = 3.0
#: Output channels: label kinds 1 and 2 of :data:`worldsim.sources.doom.LABEL_KINDS`.
CLASSES = ("monster", "projectile")


class EnemyDetector(nn.Module):
    """64x64 RGB frames -> logits ``(B, 2, 8, 8)``: a monster / projectile centre in each 8x8-pixel cell.

    ``threshold`` is the probability above which a cell counts as found (chosen by :func:`choose_threshold`).
    """

    def __init__(self, width: int = 32, threshold: float = 0.5) -> None:
        super().__init__()
        c = width

        def block(i: int, o: int, stride: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, stride, 1), nn.GroupNorm(8, o), nn.SiLU())

        self.net = nn.Sequential(
            block(3, c, 1), block(c, c, 2), block(c, 2 * c, 2), block(2 * c, 2 * c, 2), block(2 * c, 2 * c, 1),
            nn.Conv2d(2 * c, len(CLASSES), 1),
        )  # fmt: skip
        self.width, self.threshold = width, threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, 3, 64, 64) in ``[-1, 1]``."""
        return self.net(x)


def targets(labels: np.ndarray) -> np.ndarray:
    """VizDoom label rows ``(..., K, 5)`` -> bool grid ``(..., 2, 8, 8)`` (see the module docstring)."""
    labels = np.asarray(labels, np.float32)
    lead = labels.shape[:-2]
    flat = labels.reshape(-1, *labels.shape[-2:])
    out = np.zeros((len(flat), len(CLASSES), GRID, GRID), bool)
    kind = flat[..., 0].astype(int)
    tall = (flat[..., 4] - flat[..., 2]) >= MIN_HEIGHT
    cell = PROBE_SIZE / GRID
    cy = np.clip(((flat[..., 2] + flat[..., 4]) / 2 / cell).astype(int), 0, GRID - 1)
    cx = np.clip(((flat[..., 1] + flat[..., 3]) / 2 / cell).astype(int), 0, GRID - 1)
    for i, k in zip(*np.nonzero((kind > 0) & tall), strict=True):
        out[i, kind[i, k] - 1, cy[i, k], cx[i, k]] = True
    return out.reshape(*lead, len(CLASSES), GRID, GRID)


def _model_input(frames: np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(np.ascontiguousarray(at_probe_size(frames)))
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1.0


@torch.no_grad()
def predict(detector: EnemyDetector, frames: np.ndarray, batch: int = 512) -> np.ndarray:
    """Probabilities ``(..., 2, 8, 8)`` for frames ``(..., H, W, 3)``."""
    frames = np.asarray(frames)
    lead = frames.shape[:-3]
    flat = frames.reshape(-1, *frames.shape[-3:])
    detector.eval()
    out = [torch.sigmoid(detector(_model_input(flat[i : i + batch]))).numpy() for i in range(0, len(flat), batch)]
    probs = np.concatenate(out) if out else np.zeros((0, len(CLASSES), GRID, GRID), np.float32)
    return probs.reshape(*lead, len(CLASSES), GRID, GRID)


@dataclass(frozen=True)
class DetectorScores:
    """Frame-level agreement of the detector with the labels.

    Precision and recall of "a monster is on screen" (and of projectiles), the share of frames that show one,
    and how often the cell of a found monster lies within one cell of a labelled one.
    """

    monster_precision: float
    monster_recall: float
    monster_rate: float
    projectile_precision: float
    projectile_recall: float
    projectile_rate: float
    cell_hit: float


def score(probs: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> DetectorScores:
    """Compare detector ``probs`` with label ``truth`` (both ``(N, 2, 8, 8)``) at ``threshold``."""
    found, real = (probs > threshold).any((-2, -1)), truth.any((-2, -1))

    def pr(k: int) -> tuple[float, float]:
        tp = float((found[:, k] & real[:, k]).sum())
        return tp / max(1.0, float(found[:, k].sum())), tp / max(1.0, float(real[:, k].sum()))

    both = found[:, 0] & real[:, 0]
    hit = np.nan
    if both.any():
        near = torch.nn.functional.max_pool2d(torch.as_tensor(truth[both, :1]).float(), 3, 1, 1).numpy() > 0
        peak = probs[both, 0].reshape(len(near), -1).argmax(1)
        hit = float(near.reshape(len(near), -1)[np.arange(len(near)), peak].mean())
    (mp, mr), (pp, prr) = pr(0), pr(1)
    return DetectorScores(mp, mr, float(real[:, 0].mean()), pp, prr, float(real[:, 1].mean()), hit)


def choose_threshold(probs: np.ndarray, truth: np.ndarray) -> float:
    """The threshold on monster probabilities that maximises F1 of "a monster is on screen" (held-out frames)."""
    peak, real = probs[:, 0].reshape(len(probs), -1).max(1), truth[:, 0].any((-2, -1))
    best, best_f1 = 0.5, -1.0
    for th in np.linspace(0.05, 0.95, 19):
        found = peak > th
        tp = float((found & real).sum())
        f1 = 2 * tp / max(1.0, float(found.sum() + real.sum()))
        if f1 > best_f1:
            best, best_f1 = float(th), f1
    return best


def train_detector(
    frames: np.ndarray, labels: np.ndarray, steps: int = 3000, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
    progress: bool = True,
) -> EnemyDetector:  # fmt: skip
    """Train a detector on real ``frames`` ``(N, H, W, 3)`` and their VizDoom ``labels`` ``(N, K, 5)``."""
    from tqdm import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    det = EnemyDetector()
    truth = targets(labels)
    # Monsters are on a fifth of the frames and in one cell of 64 there: weigh positives up to a balanced loss.
    pos = truth.reshape(len(truth), len(CLASSES), -1).mean((0, 2))
    pos_weight = torch.as_tensor(np.clip((1 - pos) / np.maximum(pos, 1e-4), 1.0, 50.0), dtype=torch.float32)
    opt = torch.optim.AdamW(det.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    det.train()
    for _ in tqdm(range(steps), desc="detector", unit="step", disable=not progress):
        i = rng.integers(0, len(frames), batch_size)
        x = _model_input(frames[i])
        if rng.random() < 0.5:  # a mirrored room is still a room, and a mirrored monster still a monster
            x, y = x.flip(-1), torch.as_tensor(truth[i]).float().flip(-1)
        else:
            y = torch.as_tensor(truth[i]).float()
        logits = det(x)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight[None, :, None, None])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return det.eval()


def save_detector(det: EnemyDetector, path: str | Path, **meta: Any) -> None:
    """Write the detector (safetensors + JSON metadata, atomic)."""
    meta = {"threshold": det.threshold, **meta}
    save_checkpoint(path, module_tensors(det), kind=KIND, width=det.width, classes=list(CLASSES), **meta)


def load_detector(path: str | Path) -> EnemyDetector:
    """Load a detector written by :func:`save_detector`; errors name the file."""
    tensors, meta = load_checkpoint(path, kind=KIND)
    det = EnemyDetector(int(meta.get("width", 32)), float(meta.get("threshold", 0.5)))
    load_module(det, tensors, path=path)
    return det.eval()


def shipped_detector_path() -> Path:
    """Where the shipped Doom world keeps its detector."""
    from worldsim.assets import assets_dir

    return assets_dir() / "doom" / "detector.safetensors"


@cache
def _shipped() -> EnemyDetector | None:
    path = shipped_detector_path()
    if not path.is_file():
        log.warning("%s not found: Doom frames get no monster probe (scripts/train_doom_detector.py makes one)", path)
        return None
    return load_detector(path)


def enemies(frames: np.ndarray) -> dict[str, np.ndarray]:
    """``monster`` and ``projectile`` (bool ``(...)``) for frames ``(..., H, W, 3)``, by the shipped detector.

    Empty when no detector is shipped.
    """
    det = _shipped()
    if det is None:
        return {}
    seen = (predict(det, frames) > det.threshold).any((-2, -1))
    return {"monster": seen[..., 0], "projectile": seen[..., 1]}
