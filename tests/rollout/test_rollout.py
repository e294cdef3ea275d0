import json

import cv2
import numpy as np
import pytest

from worldsim.cli import main
from worldsim.rollout import RunOptions, SuiteOptions, load_scenario, run_scenario, run_suite
from worldsim.rollout.real import run_real

HORIZON = 6


def toy_scenario(tmp_path, model, name="toy_branches", start="{seed: 3, warmup: [{action: right, frames: 6}]}"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"world: toy\nmodel: {model}\nstart: {start}\nhorizon: {HORIZON}\nsamples: 2\nseed: 1\n"
        "branches:\n  go_up: up\n  seek: {policy: scripted, params: {noise: 0.0}}\n"
    )
    return path


def read_video(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


@pytest.fixture(scope="module")
def suite_out(tiny_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("rollout")
    files = [toy_scenario(root, tiny_world), toy_scenario(root, root / "missing_world", name="no_model")]
    out = root / "out"
    outcomes = run_suite(files, SuiteOptions(out=str(out), progress=False, run=RunOptions(device="cpu")))
    return root, out, files, outcomes


def test_rollout_writes_video_sheet_plot_and_report(suite_out):
    _, out, _, outcomes = suite_out
    assert [o.status for o in outcomes] == ["ok", "failed"]
    d = out / "toy_branches"
    report = json.loads((d / "report.json").read_text())
    assert report["status"] == "ok" and report["samples"] == 2
    context = report["context"]["frames"]
    assert context == 5  # the tiny preset keeps 6 - 1 context frames
    video = read_video(d / "rollout.mp4")
    assert len(video) == context + HORIZON
    # 2 branches (rows) x (2 samples + real) columns, each tile a label band over the upscaled frame
    assert video[0].shape[1] == 3 * 64 * 4 and video[0].shape[0] > 2 * 64 * 4
    for name in ("branches.png", "psnr.png"):
        image = cv2.imread(str(d / name))
        assert image is not None and image.size > 0
    for branch in report["branches"]:
        m = branch["model"]
        assert len(branch["actions"]) == HORIZON and branch["real"]["frames"] == HORIZON
        assert np.asarray(m["psnr"]).shape == (2, HORIZON) and np.asarray(m["ssim"]).shape == (2, HORIZON)
        assert np.asarray(m["reward"]).shape == (2, HORIZON) and np.asarray(m["term_prob"]).shape == (2, HORIZON)
        assert 0 < m["psnr_mean"] < 100 and -1 <= m["ssim_mean"] <= 1
    assert report["branches"][0]["actions"] == ["up"] * HORIZON
    perf = report["performance"]
    assert perf["streams"] == 4 and perf["frames_generated"] == 4 * HORIZON and perf["model_fps"] > 0


def test_failed_scenario_is_reported_and_indexed(suite_out):
    _, out, _, outcomes = suite_out
    failed = outcomes[1]
    assert "missing_world" in failed.error and "\n" not in failed.error
    report = json.loads((out / "no_model" / "report.json").read_text())
    assert report["status"] == "failed" and report["error"] == failed.error
    # the real simulator's half is still there for reference
    assert report["files"] == {"video": "rollout.mp4", "sheet": "branches.png"}
    assert all(b["real"]["available"] for b in report["branches"])
    html = (out / "index.html").read_text()
    assert "toy_branches/branches.png" in html and "toy_branches/psnr.png" in html and "missing_world" in html
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["name"], r["status"]) for r in summary["scenarios"]] == [("no_model", "failed"), ("toy_branches", "ok")]
    ok = summary["scenarios"][1]
    assert set(ok["copy_last_by_branch"]) == set(ok["psnr_by_branch"])  # each branch beside its copy-last baseline
    assert all(v > 0 for v in ok["copy_last_by_branch"].values()) and "copy-last" in html


def test_rerun_skips_finished_unless_forced(suite_out):
    _, out, files, _ = suite_out
    before = json.loads((out / "toy_branches" / "report.json").read_text())
    options = SuiteOptions(out=str(out), progress=False, run=RunOptions(device="cpu"))
    assert [o.status for o in run_suite(files, options)] == ["skipped", "failed"]
    forced = run_suite(files[:1], SuiteOptions(out=str(out), force=True, progress=False, run=RunOptions(device="cpu")))
    assert [o.status for o in forced] == ["ok"]
    after = json.loads((out / "toy_branches" / "report.json").read_text())
    # same seed, same actions: the same frames, so the same scores
    assert [b["model"]["psnr"] for b in after["branches"]] == [b["model"]["psnr"] for b in before["branches"]]


def test_branches_share_context_and_samples_differ(tiny_world, tmp_path):
    sc = load_scenario(toy_scenario(tmp_path, tiny_world))
    run = run_scenario(sc, RunOptions(device="cpu"))
    assert run.context_identical and len(run.real) == 2
    np.testing.assert_array_equal(run.real[0].context_frames, run.real[1].context_frames)
    np.testing.assert_array_equal(run.real[0].context_actions, [4] * 5)  # the warm-up: right x6
    # the branches' real futures differ, and the policy's actions were recorded for the model
    assert not np.array_equal(run.real[0].frames, run.real[1].frames)
    assert run.actions[0].tolist() == [1] * HORIZON and len(run.actions[1]) == HORIZON
    frames = run.model.frames  # (branches, samples, T, H, W, 3)
    assert frames.shape == (2, 2, HORIZON, 64, 64, 3)
    assert not np.array_equal(frames[0, 0], frames[0, 1])  # samples draw different noise
    assert not np.array_equal(frames[0, 0], frames[1, 0])  # branches play different actions


def test_dataset_start_replays_the_recording(tiny_world, tmp_path):
    from worldsim.data.dataset import Dataset

    ds = Dataset(tiny_world / "ds")
    episode = next(i for i in range(len(ds)) if ds.episodes[i].num_steps >= 12)
    sc = load_scenario(
        toy_scenario(
            tmp_path, tiny_world, "from_data", f"{{dataset: {tiny_world / 'ds'}, episode: {episode}, frame: 8}}"
        )
    )
    real = run_real(sc, 5, (64, 64))
    ep = ds.episode(episode)
    np.testing.assert_array_equal(real[0].context_frames, ep.frames[4:9])
    np.testing.assert_array_equal(real[0].context_actions, ep.actions[3:8])
    assert real[0].note is None and len(real[0].frames) == HORIZON  # the replay reproduced the recording


def test_cli_rollout_and_errors(tiny_world, tmp_path, capsys):
    path = toy_scenario(tmp_path, tiny_world)
    out = tmp_path / "cli"
    assert main(["rollout", str(path), "--out", str(out), "--no-progress", "--device", "cpu", "--samples", "1"]) == 0
    text = capsys.readouterr().out
    assert "toy_branches" in text and "ok" in text and (out / "toy_branches" / "report.json").is_file()
    assert main(["rollout", "carracing_hairpn_left", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("worldsim rollout: error: unknown scenario 'carracing_hairpn_left'. Did you mean")
    assert main(["rollout", "--list"]) == 0
    assert "carracing_hairpin_left" in capsys.readouterr().out
