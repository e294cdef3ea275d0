"""The Doom monster detector: its targets from VizDoom labels, training, scores and files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.errors import CheckpointError
from worldsim.probes import doom


def test_targets_mark_the_cell_of_each_tall_enough_box():
    rows = np.zeros((1, 4, 5), np.float32)
    rows[0, 0] = (1, 10, 20, 14, 30)  # a monster centred at (x 12, y 25): cell (3, 1)
    rows[0, 1] = (2, 40, 40, 42, 44)  # a projectile at (x 41, y 42): cell (5, 5)
    rows[0, 2] = (1, 60, 60, 62, 61)  # a monster 1 pixel tall: too small to count
    t = doom.targets(rows)
    assert t.shape == (1, 2, 8, 8)
    assert t[0, 0, 3, 1] and t[0, 1, 5, 5] and t.sum() == 2


def test_scores_of_a_perfect_and_of_a_blind_detector():
    truth = np.zeros((4, 2, 8, 8), bool)
    truth[0, 0, 2, 2] = truth[1, 0, 5, 5] = True
    perfect = doom.score(truth.astype(np.float32), truth)
    assert perfect.monster_precision == perfect.monster_recall == perfect.cell_hit == 1.0
    assert perfect.monster_rate == 0.5
    blind = doom.score(np.zeros_like(truth, np.float32), truth)
    assert blind.monster_recall == 0.0


def test_detector_learns_a_bright_square_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    frames = np.zeros((64, 64, 64, 3), np.uint8)
    labels = np.zeros((64, 8, 5), np.float32)
    for i in range(0, 64, 2):  # every other frame holds a "monster": a bright 6x6 square
        y, x = rng.integers(0, 58, 2)
        frames[i, y : y + 6, x : x + 6] = 255
        labels[i, 0] = (1, x, y, x + 6, y + 6)
    det = doom.train_detector(frames, labels, steps=60, batch_size=16, lr=3e-3, progress=False)
    scores = doom.score(doom.predict(det, frames), doom.targets(labels))
    assert scores.monster_recall > 0.8 and scores.monster_precision > 0.8
    doom.save_detector(det, tmp_path / "d.safetensors", steps=60)
    again = doom.load_detector(tmp_path / "d.safetensors")
    with torch.no_grad():
        x = torch.zeros(1, 3, 64, 64)
        assert torch.equal(again(x), det(x))
    (tmp_path / "bad.safetensors").write_bytes(b"not a detector")
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        doom.load_detector(tmp_path / "bad.safetensors")


def test_threshold_is_chosen_where_over_reporting_stops():
    truth = np.zeros((10, 2, 8, 8), bool)
    truth[:5, 0, 1, 1] = True
    probs = np.zeros((10, 2, 8, 8), np.float32)
    probs[:5, 0, 1, 1] = 0.9  # the monsters
    probs[5:, 0, 4, 4] = 0.6  # confident-looking empty frames, as a detector trained on up-weighted positives gives
    th = doom.choose_threshold(probs, truth)
    assert 0.6 <= th < 0.9
    assert doom.score(probs, truth, th).monster_precision == 1.0
    assert doom.score(probs, truth, 0.5).monster_precision == 0.5
