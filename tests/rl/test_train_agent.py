"""scripts/train_agent.py end to end on a tiny toy world: PPO in the model, PPO in the real toy, the results table."""

import json

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")


def test_train_agent_tiny_run(tiny_world, tmp_path, capsys, load_script):
    script = load_script("train_agent")
    out = tmp_path / "agent"
    common = ["--out", str(out), "--num-envs", "4", "--n-steps", "16", "--batch-size", "32", "--epochs", "1"]
    common += ["--device", "cpu", "--eval-episodes", "2", "--eval-max-steps", "50", "--checkpoint-every", "32"]
    common += ["--episode-steps", "16"]
    argv = [str(tiny_world), *common, "--steps", "64", "--real-steps", "64", "--real-envs", "2", "--codec-filter"]
    assert script.main(argv) == 0
    assert (out / "model" / "agent.safetensors").exists() and (out / "real" / "agent.safetensors").exists()
    assert (out / "model" / "checkpoints" / "agent_32_steps.safetensors").exists()
    assert not list(out.rglob("*.zip"))  # nothing that would be unpickled to read
    results = json.loads((out / "results.json").read_text())
    assert results["real_world"] == "toy"  # evaluated in the real simulator the world was learned from
    rows = results["rows"]
    assert set(rows) == {
        "random",
        "scripted",
        "PPO trained in the model (sampled)",
        "PPO trained in the model (greedy)",
        "PPO trained in the model, real frames through the codec (sampled)",
        "PPO trained in the model, real frames through the codec (greedy)",
        "PPO trained in the real simulator (sampled)",
        "PPO trained in the real simulator (greedy)",
    }
    assert all(len(r["returns"]) == 2 for r in rows.values())
    assert results["budgets"]["model"]["env_steps"] == 64
    table = capsys.readouterr().out
    assert "| PPO trained in the model (sampled) | 64 (model) |" in table
    assert all("normalised" in r and "normalised_vs_scripted" in r for r in rows.values())

    # an equal-budget comparison: score a checkpoint beside the final agent
    ckpt, final = out / "model" / "checkpoints" / "agent_32_steps.safetensors", out / "model" / "agent.safetensors"
    argv = [str(tiny_world), *common, "--stage", "eval", "--eval-modes", "sampled"]
    assert script.main([*argv, "--model-agent", str(ckpt), str(final)]) == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert rows["PPO trained in the model, 32 steps (sampled)"]["env_steps"] == 32
    assert rows["PPO trained in the model, 64 steps (sampled)"]["env_steps"] == 64

    # re-running continues to a larger budget instead of starting over
    assert script.main([str(tiny_world), *common, "--steps", "128", "--stage", "model"]) == 0
    assert json.loads((out / "model" / "train.json").read_text())["env_steps"] == 128

    # a stable-baselines3 zip is evaluated only when the user says it is trusted
    from stable_baselines3 import PPO

    from worldsim.rl.agent_file import load_agent_file

    zipped = tmp_path / "sb3.zip"
    policy = load_agent_file(final).policy
    sb3 = PPO("CnnPolicy", _spaces_env(policy), n_steps=8, batch_size=8, seed=0)
    sb3.policy.load_state_dict(policy.state_dict())
    sb3.save(zipped)
    assert script.main([*argv, "--model-agent", str(zipped)]) == 2
    assert "--trust-pickle" in capsys.readouterr().err
    assert script.main([*argv, "--model-agent", str(zipped), "--trust-pickle"]) == 0


def _spaces_env(policy):
    import gymnasium as gym

    class Env(gym.Env):
        observation_space, action_space = policy.observation_space, policy.action_space

        def reset(self, seed=None, options=None):
            return self.observation_space.sample(), {}

        def step(self, a):
            return self.observation_space.sample(), 0.0, True, False, {}

    return Env()


def test_normalised_score():
    from worldsim.rl.evaluate import normalised_score

    assert normalised_score(-70.0, -70.0, 330.0) == 0.0
    assert normalised_score(330.0, -70.0, 330.0) == 1.0
    assert normalised_score(130.0, -70.0, 330.0) == 0.5
    assert np.isnan(normalised_score(1.0, 0.0, float("nan")))  # no reference
    assert np.isnan(normalised_score(-100.0, -48.5, -55.6))  # a reference below random defines no scale
