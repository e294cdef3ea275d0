"""Counterfactual branches: fresh starts, every action held in the model and the real simulator, probes on both."""

from __future__ import annotations

import numpy as np

from worldsim.cli import main
from worldsim.eval.branches import (
    BranchConfig,
    _stop_frame,
    _termination,
    _traffic_scores,
    branch_names,
    make_starts,
    run_branches,
    run_real,
)
from worldsim.eval.branches_report import format_branches, write_branches
from worldsim.metrics import psnr
from worldsim.sources import make_world


def test_every_branch_of_a_fresh_start_replays_from_the_same_state():
    world = make_world("toy")
    starts = make_starts(world, BranchConfig(world="toy", starts=2, seed=50, warmup=(5, 10)), context=3)
    assert [s.seed for s in starts] == [50, 51] and starts[0].frames.shape[0] == 3
    names = branch_names(world)
    assert names[-1] == "scripted" and set(names[:-1]) == set(world.schema.names)
    first = run_real(world, starts[0], "right", 4).frames
    again, actions, _ = run_real(world, starts[0], "right", 4)  # the state is rebuilt for every branch
    assert np.array_equal(first, again) and set(actions) == {world.schema.index("right")}
    other = run_real(world, starts[0], "left", 4).frames
    assert not np.array_equal(first, other)  # a different action, a different consequence


def test_a_branch_whose_episode_ends_shows_its_last_frame_and_holds_it():
    world = make_world("toy")
    cfg = BranchConfig(world="toy", starts=12, seed=70, warmup=(2, 4))
    ended = [
        b
        for start in make_starts(world, cfg, context=2)
        for name in world.schema.names
        if (b := run_real(world, start, name, 60)).ended
    ]
    assert ended, "no held action ran into the hazard in 12 starts"
    for b in ended:
        last = b.frames[b.ended - 1]
        assert all(np.array_equal(f, last) for f in b.frames[b.ended :])
        # The frame the episode ended on is shown (the hit), not the one before it.
        assert b.ended == 1 or not np.array_equal(last, b.frames[b.ended - 2])


def test_traffic_scores_compare_crashes_and_end_lanes():
    nan = np.nan
    pm = {
        "crashed": np.array([[0, 0, 1], [0, 0, 0], [0, 0, 0]], bool),
        "lane": np.array([[1, 1, 1], [2, 2, 2], [nan] * 3]),
    }
    pr = {
        "crashed": np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]], bool),
        "lane": np.array([[1, 1, 1], [2, 3, 3], [0, 0, 0]]),
    }
    scores = _traffic_scores(pm, pr, [0, 1, 2])
    assert scores["crashes"] == {"real": 2, "model": 1, "both": 1}
    assert scores["crash_agrees"] == round(2 / 3, 4)
    assert scores["lane_agrees"] == round(1 / 3, 4)  # a lane the probe cannot read disagrees
    term = np.array([[0.1, 0.9, 0.2], [0.1, 0.2, 0.3], [0.6, 0.1, 0.1]])
    assert _termination(term, np.array([2, 3, 0])) == {"real": 2, "model": 2, "both": 1}


def test_stop_frame_is_the_first_frame_below_the_stopped_speed():
    speed = np.array([[10, 5, 1, 0, 0], [10, 9, 8, 7, 6]], dtype=float)
    assert _stop_frame(speed).tolist() == [3, -1]


def test_branches_report_on_the_tiny_world(tiny_world, tmp_path):
    cfg = BranchConfig(world=str(tiny_world / "world.safetensors"), starts=2, seed=60, horizon=3, warmup=(4, 8))
    cfg.device, cfg.backend = "cpu", "eager"
    report = run_branches(cfg, progress=False)
    frames = report["_frames"]
    assert frames["model"].shape[:2] == (2 * 6, 3) and frames["real"].shape == frames["model"].shape
    # The model starts from the real start frame: copy-last is scored against real frames of the same state.
    assert all(psnr(frames["first"][k], frames["real"][k][0]) > 5 for k in range(len(frames["streams"])))
    assert set(report["branches"]) == {"noop", "up", "down", "left", "right", "scripted"}
    paths = write_branches(report, tmp_path)
    assert all(p.is_file() and p.stat().st_size > 100 for p in paths.values())
    assert "scripted" in format_branches(report)


def test_carracing_branches_read_speed_and_road_from_both_pictures(tmp_path, capsys):
    argv = ["branches", "carracing", "--starts", "1", "--horizon", "12", "--seed", "20000"]
    assert main([*argv, "--backend", "eager", "--device", "cpu", "--out", str(tmp_path), "--no-progress"]) == 0
    import json

    report = json.loads((tmp_path / "branches.json").read_text())
    brake, gas = report["branches"]["brake"]["probes"], report["branches"]["gas"]["probes"]
    assert brake["real_speed_end"] < gas["real_speed_end"]  # the real car brakes: the probe sees it slow down
    assert 0.0 <= report["agreement"]["moving_agrees"] <= 1.0 and "stop_frame" in brake
    assert "stop within 3 frames" in capsys.readouterr().out


def test_highway_branches_read_crashes_and_lanes_from_both_pictures(tmp_path, capsys):
    argv = ["branches", "highway", "--starts", "1", "--horizon", "6", "--seed", "20000"]
    assert main([*argv, "--backend", "eager", "--device", "cpu", "--out", str(tmp_path), "--no-progress"]) == 0
    import json

    report = json.loads((tmp_path / "branches.json").read_text())
    assert set(report["branches"]) >= {"faster", "slower", "lane_left"}
    agreement = report["agreement"]
    assert 0.0 <= agreement["crash_agrees"] <= 1.0 and 0.0 <= agreement["lane_agrees"] <= 1.0
    assert set(agreement["termination"]) == {"real", "model", "both"}
    assert "crash" in capsys.readouterr().out
