"""WorldSim-v0: the Gymnasium contract, determinism, the batched vector env, wrappers and clear errors."""

import re
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import worldsim  # noqa: F401 - registers the envs
from worldsim.envs.learned import StepTiming, WorldSimEnv
from worldsim.envs.vector import WorldSimVectorEnv
from worldsim.errors import CheckpointError, ConfigError, InvalidAction, UnknownNameError


@pytest.fixture(scope="module")
def env(tiny_world):
    e = gym.make("WorldSim-v0", world=str(tiny_world), device="cpu")
    yield e
    e.close()


def _rollout(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    frames = [obs]
    for a in actions:
        frames.append(env.step(a)[0])
    return np.stack(frames)


@pytest.mark.parametrize("env_id", ["WorldSim-v0", "WorldSimReal-v0"], ids=["learned", "real"])
def test_check_env_passes(env_id, tiny_world):
    kwargs = {"world": str(tiny_world), "device": "cpu"} if env_id == "WorldSim-v0" else {"world": "toy"}
    e = gym.make(env_id, **kwargs)
    check_env(e.unwrapped, skip_render_check=False)
    e.close()
    e.close()  # idempotent


def test_spaces_step_and_info(env, tiny_world):
    assert isinstance(env.unwrapped, WorldSimEnv)
    assert env.observation_space == gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    assert env.action_space == gym.spaces.Discrete(5)
    assert env.unwrapped.action_names == ["noop", "up", "down", "left", "right"]
    assert env.spec.max_episode_steps == 1000
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.uint8 and obs.shape == (64, 64, 3) and info == {}
    obs, reward, terminated, truncated, info = env.step(1)
    assert isinstance(reward, float) and isinstance(terminated, bool) and truncated is False
    assert set(info) == {"term_prob", "accepted", "timing"}
    assert 0.0 <= info["term_prob"] <= 1.0 and terminated == (info["term_prob"] > 0.5)
    assert isinstance(info["timing"], StepTiming) and info["timing"].model_ms > 0


def test_namespaced_id_works_without_importing_worldsim(tiny_world):
    code = (
        "import gymnasium as gym; "
        f"e = gym.make('worldsim:WorldSim-v0', world={str(tiny_world)!r}, device='cpu'); "
        "print(e.reset(seed=0)[0].shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "(64, 64, 3)" in out.stdout


def test_same_seed_same_actions_bit_identical(tiny_world):
    actions = [1, 1, 4, 0, 2, 3]
    a = gym.make("WorldSim-v0", world=str(tiny_world), device="cpu")
    b = gym.make("WorldSim-v0", world=str(tiny_world), device="cpu")
    first, second = _rollout(a, 7, actions), _rollout(b, 7, actions)
    assert np.array_equal(first, second)
    assert np.array_equal(_rollout(a, 7, actions), first)  # and again after a reset of the same env
    assert not np.array_equal(_rollout(a, 8, actions)[1:], first[1:])  # another seed: another episode


def test_reset_picks_real_start_frames_by_seed(env, tiny_world):
    from worldsim.starts import StartStates

    starts = StartStates.load(tiny_world / "starts.safetensors")
    seen = set()
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        matches = [i for i in range(len(starts)) if np.array_equal(obs, starts.frames[i, -1])]
        assert matches, "the first observation is the last real frame of a start window"
        seen.add(matches[0])
    assert len(seen) > 1


def test_reset_options_explicit_context_and_start(env, tiny_world):
    from worldsim.starts import StartStates

    starts = StartStates.load(tiny_world / "starts.safetensors")
    frames, actions = starts.get(3)
    obs, _ = env.reset(seed=0, options={"frames": frames, "actions": actions})
    assert np.array_equal(obs, frames[-1])
    obs, _ = env.reset(seed=0, options={"start": 5})
    assert np.array_equal(obs, starts.frames[5, -1])
    with pytest.raises(ConfigError, match="uint8"):
        env.reset(options={"frames": frames.astype(np.float32)})
    with pytest.raises(ConfigError, match=re.escape("unknown reset option(s) ['colour']")):
        env.reset(options={"colour": 1})


def test_bad_action_unknown_world_missing_checkpoint(env, tiny_world, tmp_path):
    env.reset(seed=0)
    with pytest.raises(InvalidAction, match=re.escape("valid ids are 0=noop, 1=up, 2=down, 3=left, 4=right")):
        env.step(5)
    with pytest.raises(InvalidAction, match="valid ids"):
        env.step(-1)
    with pytest.raises(UnknownNameError, match=r"Did you mean 'carracing'\?.*Valid choices"):
        gym.make("WorldSim-v0", world="carracin")
    with pytest.raises(CheckpointError, match="world checkpoint not found"):
        gym.make("WorldSim-v0", world=str(tmp_path / "nope.safetensors"))
    with pytest.raises(ConfigError, match="Did you mean 'steps'"):
        gym.make("WorldSim-v0", world=str(tiny_world), sampling={"stepz": 2})
    with pytest.raises(ConfigError, match=re.escape("pass sampling={'steps': 2}")):
        gym.make("WorldSim-v0", world=str(tiny_world), steps=2)
    with pytest.raises(UnknownNameError, match="Did you mean 'onnx'"):
        gym.make("WorldSim-v0", world=str(tiny_world), backend="onx")


def test_termination_threshold_and_truncation(tiny_world):
    e = WorldSimEnv(world=str(tiny_world), device="cpu", term_threshold=1e-9, max_episode_steps=3)
    e.reset(seed=0)
    assert e.step(0)[2] is True  # any positive termination probability ends the episode
    e = WorldSimEnv(world=str(tiny_world), device="cpu", term_threshold=1.0, max_episode_steps=3)
    e.reset(seed=0)
    flags = [e.step(0)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    limited = gym.make("WorldSim-v0", world=str(tiny_world), device="cpu", max_episode_steps=2, term_threshold=1.0)
    limited.reset(seed=0)
    assert [limited.step(0)[3] for _ in range(2)] == [False, True]  # gym.make's TimeLimit


def test_steps_speculative_backend_kwargs(tiny_world):
    e = gym.make(
        "WorldSim-v0", world=str(tiny_world), device="cpu", sampling={"steps": 1}, speculative=2, backend="eager"
    )
    sim = e.unwrapped.sim
    assert sim.steps == 1 and sim.lookahead == 2 and sim.backend.name == "eager"
    e.reset(seed=0)
    accepted = [e.step(1)[4]["accepted"] for _ in range(6)]
    assert any(accepted), "holding an action serves speculated frames"
    assert gym.make("WorldSim-v0", world=str(tiny_world), device="cpu", speculative=True).unwrapped.sim.lookahead == 2
    with pytest.raises(ConfigError, match="at most"):
        gym.make("WorldSim-v0", world=str(tiny_world), device="cpu", speculative=50)


def test_render_modes(tiny_world):
    e = gym.make("WorldSim-v0", world=str(tiny_world), device="cpu", render_mode="rgb_array")
    obs, _ = e.reset(seed=0)
    assert np.array_equal(e.render(), obs)
    human = gym.make("WorldSim-v0", world=str(tiny_world), device="cpu", render_mode="human")  # SDL dummy driver
    human.reset(seed=0)
    human.step(1)
    human.close()
    human.close()


def test_standard_wrappers(tiny_world, tmp_path):
    base = gym.make("WorldSim-v0", world=str(tiny_world), device="cpu", render_mode="rgb_array")
    e = gym.wrappers.GrayscaleObservation(gym.wrappers.ResizeObservation(base, (32, 32)))
    e = gym.wrappers.FrameStackObservation(e, 4)
    obs, _ = e.reset(seed=0)
    assert obs.shape == (4, 32, 32) and obs.dtype == np.uint8
    assert e.step(1)[0].shape == (4, 32, 32)
    pytest.importorskip("moviepy")
    rec = gym.wrappers.RecordVideo(
        gym.make("WorldSim-v0", world=str(tiny_world), device="cpu", render_mode="rgb_array", max_episode_steps=5),
        str(tmp_path / "videos"),
        episode_trigger=lambda ep: True,
        disable_logger=True,
    )
    rec.reset(seed=0)
    done = False
    while not done:
        done = any(rec.step(1)[2:4])
    rec.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 0


# ---------------------------------------------------------------- vector env


def test_make_vec_is_one_batched_simulator(tiny_world):
    envs = gym.make_vec("WorldSim-v0", num_envs=3, world=str(tiny_world), device="cpu")
    assert isinstance(envs, WorldSimVectorEnv)
    assert envs.sim.num_streams == 3  # one model, three streams: not three copies
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert envs.single_action_space == gym.spaces.Discrete(5)
    assert envs.observation_space.shape == (3, 64, 64, 3)
    assert envs.config.max_episode_steps == 1000  # make_vec passes the registered limit
    obs, info = envs.reset(seed=0)
    assert obs.shape == (3, 64, 64, 3) and obs.dtype == np.uint8
    obs, rewards, terminated, truncated, info = envs.step(np.array([0, 1, 2]))
    assert rewards.shape == terminated.shape == truncated.shape == (3,)
    assert info["term_prob"].shape == (3,) and info["_term_prob"].all()
    with pytest.raises(InvalidAction, match="valid ids"):
        envs.step(np.array([0, 1, 7]))
    with pytest.raises(InvalidAction, match="3 integer actions"):
        envs.step(np.array([0, 1]))
    envs.close()


def test_vector_env_deterministic(tiny_world):
    runs = []
    for _ in range(2):
        envs = gym.make_vec("WorldSim-v0", num_envs=2, world=str(tiny_world), device="cpu", max_episode_steps=3)
        obs, _ = envs.reset(seed=3)
        frames = [obs]
        for t in range(5):
            frames.append(envs.step(np.array([t % 5, 4]))[0])
        runs.append(np.stack(frames))
    assert np.array_equal(runs[0], runs[1])


def test_vector_next_step_autoreset(tiny_world):
    envs = gym.make_vec(
        "WorldSim-v0", num_envs=2, world=str(tiny_world), device="cpu", max_episode_steps=2, term_threshold=1.0
    )
    starts = envs.sim.starts.frames[:, -1]
    envs.reset(seed=0)
    _, _, _, trunc1, _ = envs.step(np.array([1, 1]))
    obs2, _, _, trunc2, _ = envs.step(np.array([1, 1]))
    assert not trunc1.any() and trunc2.all()
    obs3, rew3, term3, trunc3, _ = envs.step(np.array([1, 1]))  # this step resets, ignoring the actions
    assert np.array_equal(rew3, [0.0, 0.0]) and not term3.any() and not trunc3.any()
    for frame in obs3:
        assert any(np.array_equal(frame, s) for s in starts)
    obs4, _, _, trunc4, _ = envs.step(np.array([1, 1]))
    assert not trunc4.any()


def test_vector_same_step_autoreset_and_partial_reset(tiny_world):
    envs = WorldSimVectorEnv(
        num_envs=2,
        world=str(tiny_world),
        device="cpu",
        max_episode_steps=2,
        term_threshold=1.0,
        autoreset_mode="SameStep",
    )
    envs.reset(seed=0)
    envs.step(np.array([0, 0]))
    obs, rewards, _, truncated, info = envs.step(np.array([0, 0]))
    assert truncated.all() and info["_final_obs"].all()
    assert info["final_obs"][0].shape == (64, 64, 3)
    assert not np.array_equal(info["final_obs"][0], obs[0])  # obs is already the next episode's first frame

    manual = WorldSimVectorEnv(num_envs=2, world=str(tiny_world), device="cpu", autoreset_mode="Disabled")
    manual.reset(seed=0)
    before, *_ = manual.step(np.array([1, 2]))
    after, _ = manual.reset(options={"reset_mask": np.array([True, False])})
    assert np.array_equal(after[1], before[1])  # the other stream keeps its episode
    assert any(np.array_equal(after[0], s) for s in manual.sim.starts.frames[:, -1])


@pytest.mark.parametrize("module", ["worldsim.envs.learned", "worldsim.envs.real"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_restated_names_match_the_library():
    import dataclasses

    from worldsim.envs.learned import ENV_BACKENDS, SAMPLING_KEYS
    from worldsim.sampling.backends import BACKENDS
    from worldsim.sampling.config import SamplingConfig

    assert tuple(f.name for f in dataclasses.fields(SamplingConfig)) == SAMPLING_KEYS
    assert set(ENV_BACKENDS) == set(BACKENDS)
