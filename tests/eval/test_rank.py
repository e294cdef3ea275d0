"""Policy-ranking validity: the statistics, and a run on the tiny world."""

from __future__ import annotations

import numpy as np
import pytest

from worldsim.eval.rank import RankConfig, format_rank, kendall, run_rank, spearman, write_rank


def test_rank_statistics():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert spearman(a, a * 10) == pytest.approx(1.0) and kendall(a, a * 10) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0) and kendall(a, -a) == pytest.approx(-1.0)
    # One swapped pair of four: rho = 1 - 6 * 2 / (4 * 15) = 0.8; tau = (5 - 1) / 6.
    b = np.array([1.0, 3.0, 2.0, 4.0])
    assert spearman(a, b) == pytest.approx(0.8) and kendall(a, b) == pytest.approx(4 / 6)
    assert np.isnan(spearman(a, np.ones(4))) and np.isnan(kendall(a, np.ones(4)))
    # Ties are averaged: scipy.stats.spearmanr([1, 2, 2, 3], [1, 2, 3, 4]) = 0.9487.
    assert spearman(np.array([1.0, 2, 2, 3]), a) == pytest.approx(0.948683, abs=1e-5)


def test_rank_runs_every_policy_from_the_same_starts(tiny_world, tmp_path):
    cfg = RankConfig(world=str(tiny_world / "world.safetensors"), starts=3, seed=70, horizon=5, bootstrap=50)
    cfg.device, cfg.backend = "cpu", "eager"
    report = run_rank(cfg, progress=False)
    assert report["start_seeds"] == [70, 71, 72] and set(report["policies"]) == {"random", "noop"}
    lo, hi = report["rank_agreement"]["spearman"]["ci95"]
    assert np.isnan(lo) or -1 <= lo <= hi <= 1
    paths = write_rank(report, tmp_path)
    assert all(p.stat().st_size > 100 for p in paths.values()) and "spearman" in format_rank(report)


def test_the_highway_suite_is_six_frame_only_policies():
    from worldsim.eval.rank import suite
    from worldsim.policies.base import make_policy

    policies = suite("highway")
    assert len(policies) >= 6
    for name, params in policies.values():
        assert name in ("constant", "random")  # the scripted driver reads the simulator, not frames
        make_policy(name, "highway", **params)


def test_the_breakout_suite_reads_frames_and_spans_the_game():
    """Every Breakout policy of the suite plays from frames alone, and in the real game they are clearly ordered."""
    pytest.importorskip("ale_py")
    from worldsim.eval.rank import suite
    from worldsim.policies.base import make_policy
    from worldsim.sources import make_world

    policies = suite("breakout")
    assert len(policies) >= 6
    world = make_world("breakout", height=64, width=64)
    scores = {}
    for label in ("pilot", "pilot, noise 0.2", "noop"):
        name, params = policies[label]
        policy = make_policy(name, "breakout", **params)
        assert name != "pilot" or not policy.privileged  # the model has no RAM: the pilot sees only the picture
        frame, total = world.reset(seed=23), 0.0
        policy.reset(world, np.random.default_rng(23))
        for _ in range(400):
            step = world.step(int(policy.act(frame)))
            total += step.reward
            if step.terminated or step.truncated:
                break
            frame = step.frame
        scores[label] = total
    world.close()
    # From pixels alone the pilot launches and returns the ball (a noop player never launches it).
    assert scores["pilot"] >= 10 > scores["noop"] == 0
    assert scores["pilot"] > scores["pilot, noise 0.2"]


def test_policy_sheet_plays_one_suite_policy_in_both_and_writes_a_sheet(tiny_world, tmp_path, load_script):
    out = tmp_path / "noop.png"
    argv = [str(tiny_world / "world.safetensors"), "noop", "--starts", "2", "--seed", "70", "--horizon", "12"]
    report = load_script("policy_sheet").main([*argv, "--out", str(out)])
    assert report["start_seeds"] == [70, 71] and len(report["model_return"]) == 2
    assert out.stat().st_size > 100 and (tmp_path / "noop.json").is_file()
    from worldsim.errors import ConfigError

    with pytest.raises(ConfigError, match="not in toy's rank suite"):
        load_script("policy_sheet").main([*argv[:1], "pilot", "--out", str(out)])
