import json
import sys

import cv2
import pytest

from worldsim.cli import main
from worldsim.errors import DependencyNotInstalled
from worldsim.play.controllers import load_agent
from worldsim.sources import world_class


def test_headless_plays_an_action_file(tiny_world, tmp_path, capsys):
    actions = tmp_path / "drive.txt"
    actions.write_text("up,5\nleft,3\nnoop,2\n")
    out = tmp_path / "video.mp4"
    argv = ["play", str(tiny_world), "--headless", "--actions", str(actions), "--out", str(out)]
    assert main([*argv, "--backend", "eager", "--device", "cpu", "--record", str(tmp_path / "rec")]) == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    assert printed["frames"] == 10 and printed["fps_p50"] > 0
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["per_frame"]["action"] == ["up"] * 5 + ["left"] * 3 + ["noop"] * 2
    assert len(report["per_frame"]["model_ms"]) == 10 and report["model_ms"]["p99"] >= report["model_ms"]["p50"] > 0
    assert report["fps_p99"] <= report["fps_p50"] and 0 <= report["acceptance_rate"] <= 1
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 11  # the start frame and one per action
    cap.release()
    assert main(["data", "validate", str(tmp_path / "rec" / "dataset")]) == 0


def test_cli_errors_are_one_line(tiny_world, tmp_path, capsys):
    actions = tmp_path / "a.txt"
    actions.write_text("up\nupp\n")
    assert main(["play", str(tmp_path / "missing" / "world.safetensors"), "--headless", "--actions", str(actions)]) == 2
    err = capsys.readouterr().err.strip()
    assert "world checkpoint not found" in err and len(err.splitlines()) == 1
    assert main(["play", str(tiny_world), "--headless", "--actions", str(actions), "--backend", "eager"]) == 2
    err = capsys.readouterr().err.strip()
    assert f"{actions}:2: unknown action for world 'toy' 'upp'. Did you mean 'up'?" in err
    assert main(["play", str(tiny_world), "--headless"]) == 2
    assert "--headless needs something to play" in capsys.readouterr().err


def test_agent_file_needs_stable_baselines3(tmp_path, monkeypatch):
    f = tmp_path / "agent.zip"
    f.write_bytes(b"PK")
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    with pytest.raises(DependencyNotInstalled, match=r"pip install -e '\.\[rl\]'"):
        load_agent(f, world_class("toy").schema, (64, 64))


def test_agent_file_plays(make_session, tmp_path):
    sb3 = pytest.importorskip("stable_baselines3")
    import gymnasium as gym
    import numpy as np

    class Frames(gym.Env):  # two stacked frames on the channel axis, as scripts/train_agent.py trains
        observation_space = gym.spaces.Box(0, 255, (64, 64, 6), np.uint8)
        action_space = gym.spaces.Discrete(5)

        def reset(self, seed=None, options=None):
            return np.zeros((64, 64, 6), np.uint8), {}

        def step(self, a):
            return np.zeros((64, 64, 6), np.uint8), 0.0, True, False, {}

    sb3.PPO("CnnPolicy", Frames(), n_steps=8, batch_size=8, seed=0).save(tmp_path / "agent.zip")
    s = make_session(policy=str(tmp_path / "agent.zip"))
    assert s.controller_name == "agent:agent.zip"
    assert s.controllers.active.stack == 2  # SB3 saved it channel-first (VecTransposeImage): 6x64x64
    for _ in range(3):
        assert s.update()
    assert s.frames == 3
