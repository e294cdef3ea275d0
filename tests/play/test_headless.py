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
    from worldsim.checkpoint import save_checkpoint

    f = tmp_path / "agent.safetensors"
    save_checkpoint(f, {}, kind="agent", policy_class="ActorCriticCnnPolicy")
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    with pytest.raises(DependencyNotInstalled, match=r"pip install -e '\.\[rl\]'"):
        load_agent(f, world_class("toy").schema, (64, 64))


def _frames_env():
    import gymnasium as gym
    import numpy as np

    class Frames(gym.Env):  # two stacked frames on the channel axis, as scripts/train_agent.py trains
        observation_space = gym.spaces.Box(0, 255, (64, 64, 6), np.uint8)
        action_space = gym.spaces.Discrete(5)

        def reset(self, seed=None, options=None):
            return np.zeros((64, 64, 6), np.uint8), {}

        def step(self, a):
            return np.zeros((64, 64, 6), np.uint8), 0.0, True, False, {}

    return Frames()


def test_agent_file_plays_without_pickle(make_session, tmp_path):
    sb3 = pytest.importorskip("stable_baselines3")
    import numpy as np

    from worldsim.rl.agent_file import load_agent_file, save_agent

    trained = sb3.PPO("CnnPolicy", _frames_env(), n_steps=8, batch_size=8, seed=0)
    save_agent(tmp_path / "agent.safetensors", trained)
    loaded = load_agent_file(tmp_path / "agent.safetensors")
    obs = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 6), dtype=np.uint8)
    assert np.array_equal(loaded.predict(obs, True)[0], trained.predict(obs, deterministic=True)[0])
    s = make_session(policy=str(tmp_path / "agent.safetensors"))
    assert s.controller_name == "agent:agent.safetensors"
    assert s.controllers.active.stack == 2  # SB3 keeps it channel-first (VecTransposeImage): 6x64x64
    for _ in range(3):
        assert s.update()
    assert s.frames == 3


def test_a_crafted_agent_zip_runs_no_code(tmp_path, capsys, tiny_world):
    import pickle
    import zipfile

    from worldsim.cli import main

    marker = tmp_path / "pwned"

    class Payload:  # what a hostile file holds: unpickling it calls os.system
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "agent.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("data", "{}")
        z.writestr("policy.optimizer.pth", pickle.dumps(Payload()))
        z.writestr("pytorch_variables.pth", pickle.dumps(Payload()))
    actions = tmp_path / "a.txt"
    actions.write_text("up,3\n")
    args = ["play", str(tiny_world / "world.safetensors"), "--headless", "--actions", str(actions), "--policy",
            str(evil), "--backend", "eager", "--out", str(tmp_path / "v.mp4")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unpickled" in err and "--trust-pickle" in err
    assert not marker.exists()
