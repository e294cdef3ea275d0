"""Distributional reward head, the heads stage (``worldsim heads``) and the reward/termination scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from worldsim.cli import main
from worldsim.data.dataset import Dataset
from worldsim.errors import CheckpointError, ConfigError, DatasetError
from worldsim.metrics import reward_scores, termination_scores
from worldsim.model.dynamics import DynamicsTransformer, preset, reward_support, two_hot
from worldsim.sampling.backends import check_backend
from worldsim.sampling.simulator import Simulator
from worldsim.training.heads import HeadsConfig, reward_limit, train_heads
from worldsim.training.objective import reward_loss
from worldsim.world_model import WorldModel


def test_support_is_symmetric_holds_zero_and_reaches_the_limit():
    s = reward_support(63, 100.0)
    assert s[31] == 0.0 and s[0] == pytest.approx(-100.0) and s[-1] == pytest.approx(100.0)
    assert torch.all(s[1:] > s[:-1])
    assert torch.allclose(s, -s.flip(0))
    # Symlog spacing: fine near 0 (CarRacing's -0.1 a frame), coarse near 100 (its off-field penalty).
    assert s[32] - s[31] < 0.2 < s[-1] - s[-2]


def test_two_hot_keeps_the_mean_exactly_and_clamps_beyond_the_limit():
    s = reward_support(31, 10.0)
    v = torch.tensor([-0.1, 0.0, 3.2, 7.0, -10.0, 25.0, -40.0])
    w = two_hot(v, s)
    assert torch.allclose(w.sum(-1), torch.ones(len(v)))
    assert (w > 0).sum(-1).max() <= 2
    assert torch.allclose(w @ s, v.clamp(-10, 10), atol=1e-5)
    assert w[1, 15] == 1.0  # 0 is one value, not a blend


def test_distributional_head_reports_the_mean_of_its_distribution():
    cfg = preset("tiny", num_actions=3, latent_channels=4, reward_bins=15, reward_limit=5.0)
    model = DynamicsTransformer(cfg).eval()
    x, t, a = torch.randn(2, 3, 4, 8, 8), torch.full((2, 3), 0.1), torch.zeros(2, 3, dtype=torch.long)
    with torch.no_grad():
        out = model(x, t, a)
    probs = torch.softmax(out["reward_logits"].float(), -1)
    assert out["reward_logits"].shape == (2, 3, 15)
    assert torch.allclose(out["reward"], probs @ reward_support(15, 5.0), atol=1e-6)
    # Under bf16 autocast the reward stays a float32 mean over an unrounded support.
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out16 = model(x, t, a)
    assert out16["reward"].dtype == torch.float32


def test_reward_loss_is_smallest_at_the_right_distribution():
    s = reward_support(15, 5.0)
    rewards = torch.tensor([[0.0, 3.0]])
    right = torch.log(two_hot(rewards, s) + 1e-6)
    wrong = torch.log(two_hot(torch.zeros_like(rewards), s) + 1e-6)
    ones = torch.ones_like(rewards)
    loss_right = reward_loss({"reward_logits": right}, rewards, ones, 5.0)
    assert loss_right < reward_loss({"reward_logits": wrong}, rewards, ones, 5.0)
    # A scalar head keeps the squared error.
    assert reward_loss({"reward": torch.tensor([[0.0, 1.0]])}, rewards, ones, 5.0).item() == pytest.approx(2.0)


def test_bad_reward_bins_are_refused():
    with pytest.raises(ValueError, match="reward_bins"):
        preset("tiny", reward_bins=4)
    with pytest.raises(ValueError, match="reward_limit"):
        preset("tiny", reward_bins=5, reward_limit=0.0)
    with pytest.raises(ValueError, match="reward_bins"):
        HeadsConfig(reward_bins=2)


def test_reward_scores_find_sparse_events_and_say_when_there_are_none():
    real = np.full(100, -0.1)
    real[[10, 40, 70]] = 3.2
    pred = np.full(100, -0.1)
    pred[[10, 40, 55]] = 3.0  # two hits, one false alarm, one miss
    sc = reward_scores(pred, real)
    ev = sc["events"]
    assert ev["usual_reward"] == pytest.approx(-0.1) and ev["real"] == 3 and ev["predicted"] == 3
    assert ev["recall"] == pytest.approx(2 / 3) and ev["precision"] == pytest.approx(2 / 3)
    assert sc["mae"] < sc["mae_zero_baseline"] and sc["correlation"] > 0.5
    assert reward_scores(np.zeros(50), np.linspace(0, 1, 50))["events"] is None  # dense reward: no events
    assert math.isnan(reward_scores(np.zeros(5), np.zeros(5))["correlation"])


def test_termination_scores():
    sc = termination_scores(np.array([0.9, 0.6, 0.1, 0.2]), np.array([1, 0, 1, 0]))
    assert sc["recall"] == 0.5 and sc["precision"] == 0.5 and sc["positives"] == 2


def _cfg(tiny_world, out, **kw) -> HeadsConfig:
    base = dict(world=str(tiny_world / "world.safetensors"), data=str(tiny_world / "ds"), out=str(out), steps=30,
                batch_size=8, reward_bins=7, log_every=5, eval_every=15, ckpt_every=10, warmup_steps=5, lr=3e-3,
                device="cpu", threads=1, bf16=False)  # fmt: skip
    return HeadsConfig(**{**base, **kw})


def test_heads_train_only_the_heads_and_write_a_world_that_plays(tiny_world, tmp_path):
    result = train_heads(_cfg(tiny_world, tmp_path / "h", eval_data=str(tiny_world / "ds")), progress=False)
    world = WorldModel.load(result["world_file"])
    old = WorldModel.load(tiny_world / "world.safetensors")
    cfg = world.dynamics.cfg
    assert cfg.reward_bins == 7 and cfg.reward_limit == pytest.approx(reward_limit(Dataset(tiny_world / "ds")))
    assert world.metadata["heads"]["steps"] == 30
    new_sd, old_sd = world.dynamics.state_dict(), old.dynamics.state_dict()
    for k, t in old_sd.items():
        if not k.startswith("heads."):
            assert torch.equal(new_sd[k], t)  # the world itself is untouched
    assert not torch.equal(new_sd["heads.net.1.weight"][:10], old_sd["heads.net.1.weight"][:10])
    for where in ("val", "fresh"):
        sc = result["scores"][where]
        assert sc["new"]["steps"] == sc["old"]["steps"] > 0
        assert set(sc["new"]["reward"]) >= {"mae", "mae_zero_baseline", "correlation", "events"}
    # The new heads beat the untrained ones on the toy world's rewards (+1 per bounce).
    assert result["scores"]["val"]["new"]["reward"]["mae"] < result["scores"]["val"]["old"]["reward"]["mae"]
    frames = np.asarray(Dataset(tiny_world / "ds").episode(0).frames[None, :3])
    rewards = {}
    for backend in ("eager", "onnx"):
        if check_backend(backend, torch.device("cpu")):
            continue
        sim = Simulator(world, backend=backend, seed=0)
        sim.reset(frames)
        rewards[backend] = np.concatenate([sim.step([a]).reward for a in (0, 1, 2)])
    assert np.isfinite(rewards["eager"]).all() and rewards["eager"].dtype == np.float32
    if "onnx" in rewards:  # the exported graph computes the distribution's mean too
        np.testing.assert_allclose(rewards["onnx"], rewards["eager"], atol=1e-3)


def test_heads_resume_to_the_same_weights_and_refuse_other_settings(tiny_world, tmp_path):
    whole = train_heads(_cfg(tiny_world, tmp_path / "a", steps=20), progress=False)
    part = train_heads(_cfg(tiny_world, tmp_path / "b", steps=20), progress=False, stop_at=10)
    assert part["stopped"] and part["step"] == 10
    with pytest.raises(ConfigError, match="other settings \\(reward_bins: 7 -> 9\\)"):
        train_heads(_cfg(tiny_world, tmp_path / "b", steps=20, reward_bins=9), progress=False)
    train_heads(_cfg(tiny_world, tmp_path / "b", steps=20), progress=False)
    a = WorldModel.load(whole["world_file"]).dynamics.heads.state_dict()
    b = WorldModel.load(tmp_path / "b" / "world.safetensors").dynamics.heads.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_heads_errors_name_the_file(tiny_world, tmp_path):
    with pytest.raises(CheckpointError, match="missing.safetensors"):
        train_heads(_cfg(tiny_world, tmp_path / "h", world=str(tmp_path / "missing.safetensors")), progress=False)
    with pytest.raises(DatasetError, match="nowhere"):
        train_heads(_cfg(tiny_world, tmp_path / "h", data=str(tmp_path / "nowhere")), progress=False)


def test_heads_cli(tiny_world, tmp_path, caplog):
    caplog.set_level("INFO")
    out = tmp_path / "cli"
    code = main(["heads", str(tiny_world / "world.safetensors"), "--data", str(tiny_world / "ds"), "--out", str(out),
                 "--steps", "4", "--no-progress", "batch_size=4", "reward_bins=5", "device=cpu"])  # fmt: skip
    assert code == 0 and (out / "world.safetensors").is_file() and (out / "heads_eval.json").is_file()
    assert "always-zero" in caplog.text and "new heads" in caplog.text


def test_eval_scores_returns_so_an_event_a_frame_late_is_not_counted_twice():
    from worldsim.eval.report import evaluate_rollouts

    frames = np.zeros((2, 4, 64, 64, 3), np.uint8)
    real = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 4.0]])
    late = np.array([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 4.0]])  # the first window's event one frame late
    r = evaluate_rollouts(frames, frames, frames[:, 0], np.zeros((2, 4), np.int64), pred_reward=late, real_reward=real)
    rw = r["reward"]
    assert rw["mae"] == pytest.approx(2 / 8) and rw["mae_zero_baseline"] == pytest.approx(5 / 8)
    assert rw["return_mae"] == 0.0 and rw["return_mae_zero_baseline"] == pytest.approx(2.5)


def test_terminal_windows_end_on_a_termination_and_the_shift_undoes_the_oversampling(tiny_world):
    from worldsim.training.heads import oversampling_shift, terminal_windows

    ds = Dataset(tiny_world / "ds")
    episodes = ds.split("train")
    ends = terminal_windows(ds, episodes, 4)
    assert ends, "the toy world's episodes end in terminations"
    for e, start in ends:
        assert read_window_last_terminated(ds, e, start)
    assert oversampling_shift(ds, episodes, len(ends), 0, 8, 4) == 0.0
    steps = sum(ds.episodes[e].num_steps for e in episodes)
    p = len(ends) / steps
    q = (2 + 6 * 4 * p) / 32
    assert oversampling_shift(ds, episodes, len(ends), 2, 8, 4) == pytest.approx(
        math.log(q / (1 - q)) - math.log(p / (1 - p))
    )


def read_window_last_terminated(ds, episode, start) -> bool:
    ep = ds.episode(episode)
    return bool(np.asarray(ep.terminated)[-1]) and start == len(np.asarray(ep.frames)) - 4
