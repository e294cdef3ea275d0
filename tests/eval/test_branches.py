"""Counterfactual branches: fresh starts, every action held in the model and the real simulator, probes on both."""

from __future__ import annotations

import numpy as np

from worldsim.cli import main
from worldsim.eval.branches import BranchConfig, _stop_frame, branch_names, make_starts, run_branches, run_real
from worldsim.eval.branches_report import format_branches, write_branches
from worldsim.metrics import psnr
from worldsim.sources import make_world


def test_every_branch_of_a_fresh_start_replays_from_the_same_state():
    world = make_world("toy")
    starts = make_starts(world, BranchConfig(world="toy", starts=2, seed=50, warmup=(5, 10)), context=3)
    assert [s.seed for s in starts] == [50, 51] and starts[0].frames.shape[0] == 3
    names = branch_names(world)
    assert names[-1] == "scripted" and set(names[:-1]) == set(world.schema.names)
    first, _ = run_real(world, starts[0], "right", 4)
    again, actions = run_real(world, starts[0], "right", 4)  # the state is rebuilt for every branch
    assert np.array_equal(first, again) and set(actions) == {world.schema.index("right")}
    other, _ = run_real(world, starts[0], "left", 4)
    assert not np.array_equal(first, other)  # a different action, a different consequence


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
