import numpy as np
import pytest
import torch

from worldsim.data.dataset import Dataset
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
