import numpy as np
import pytest
import torch

from worldsim.data.dataset import Dataset
from worldsim.errors import DatasetError
from worldsim.world_model import WorldModel


def test_one_jump_from_no_noise_is_the_codec_and_from_full_noise_the_model(load_script, tiny_world, monkeypatch):
    script = load_script("ball_noise_probe")
    seen = []

    def fake_ball(frames):
        frames = np.asarray(frames)
        seen.append(frames.copy())
        n = frames.shape[0]
        return {"present": np.ones(n, bool), "y": frames.mean(axis=(1, 2, 3)), "x": np.zeros(n)}

    monkeypatch.setattr(script.breakout, "ball", fake_ball)
    world, ds = WorldModel.load(tiny_world / "world.safetensors"), Dataset(tiny_world / "ds")
    rows = script.probe(world, ds, windows=4, levels=[0.0, 1.0])
    assert [r["t"] for r in rows] == [0.0, 1.0] and all(r["pairs"] == len(seen[0]) for r in rows)
    real_next, clean_jump, noise_jump = seen[0], seen[2], seen[3]
    with torch.no_grad():
        reconstruction = world.decode(world.encode(real_next)).cpu().numpy()
    np.testing.assert_array_equal(clean_jump, reconstruction)  # t = 0: x_t is the real latent, nothing to undo
    assert not np.array_equal(noise_jump, reconstruction)  # t = 1: only the context and the model remain


def test_a_world_other_than_breakout_is_refused_in_one_line(load_script, tiny_world):
    script = load_script("ball_noise_probe")
    with pytest.raises(SystemExit, match="is a 'toy' world; this probe reads Breakout's ball"):
        script.main([str(tiny_world / "world.safetensors"), str(tiny_world / "ds")])


def _balls(present):
    """A stand-in for the ball probe: ``present(n)`` says which of an episode's ``n`` frames show a ball."""

    def ball(frames):
        n = len(frames)
        return {"present": present(n), "y": np.zeros(n), "x": np.zeros(n)}

    return ball


def test_lost_windows_end_where_the_ball_leaves_for_good(load_script, tiny_world, monkeypatch):
    script = load_script("ball_noise_probe")

    monkeypatch.setattr(script.breakout, "ball", _balls(lambda n: np.arange(n) < n // 2))  # first half of each episode
    ds = Dataset(tiny_world / "ds")
    picks = script.lost_windows(ds, context=3, n=100)
    assert picks and len(picks) == len(ds.split("val"))
    for e, start in picks:
        assert start + 3 == (ds.episodes[e].num_steps + 1) // 2  # the next frame is the first without the ball


def test_no_lost_ball_is_one_line_naming_the_data(load_script, tiny_world, monkeypatch):
    script = load_script("ball_noise_probe")

    monkeypatch.setattr(script.breakout, "ball", _balls(lambda n: np.ones(n, bool)))
    world, ds = WorldModel.load(tiny_world / "world.safetensors"), Dataset(tiny_world / "ds")
    with pytest.raises(DatasetError, match="no validation episode loses the ball; use --at any"):
        script.probe(world, ds, 4, [1.0], at="lost")


def test_idle_windows_hold_no_ball_and_no_fire(load_script, tiny_world, monkeypatch):
    script = load_script("ball_noise_probe")

    monkeypatch.setattr(script.breakout, "ball", _balls(lambda n: np.zeros(n, bool)))
    ds = Dataset(tiny_world / "ds")
    fire = 1  # the toy world's "up" stands in for Breakout's fire
    picks = script.idle_windows(ds, context=3, n=50, fire=fire)
    assert picks
    for e, start in picks:
        window_actions = np.asarray(ds.episode(e).actions)[start - 1 : start + 3]  # the actions behind its 4 frames
        assert start >= script.IDLE_FOR - 3 and not (window_actions == fire).any()
