"""Hostile inputs, many at a time: every entry point that reads a user's file or keyword either works or raises one
of :mod:`worldsim.errors`' types (the CLI prints those as one line), within a time bound, and runs nothing.

The inputs are generated: truncations and bit flips of real files, wrong types and out-of-range values for every
keyword, mutated scenario/config/key/action files. ``test_the_suite_is_large_enough`` keeps the count honest.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from worldsim.errors import Error

BOUND_S = 10.0  # no single input may take longer than this
BAD_VALUES = [None, -1, 0, 1e12, math.nan, "x", [], {"a": 1}, True, -0.5]


def _fine_or_clean(fn, *args, **kwargs):
    """Run; a worldsim error is a clean answer, anything else (a traceback) fails the case."""
    t0 = time.perf_counter()
    try:
        fn(*args, **kwargs)
    except Error as e:
        assert "\n" not in str(e).strip(), f"multi-line error: {e}"
    assert time.perf_counter() - t0 < BOUND_S


# -- world, starts and agent files: truncations and bit flips ----------------------------------------------------


def _mutations(data: bytes, n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    header = 8 + int.from_bytes(data[:8], "little")
    out = [b"", data[:4], data[:8], data[: header // 2], data[:header], data[: len(data) // 2], b"\0" * 64]
    for where in rng.integers(0, len(data), n):  # bit flips anywhere: header, metadata, tensor data
        flipped = bytearray(data)
        flipped[where] ^= 1 << int(rng.integers(8))
        out.append(bytes(flipped))
    for where in rng.integers(8, header, n // 2):  # flips inside the JSON header (metadata, offsets)
        flipped = bytearray(data)
        flipped[where] ^= 1 << int(rng.integers(7))
        out.append(bytes(flipped))
    return out


WORLD_CASES = list(range(37))


@pytest.fixture(scope="module")
def world_bytes(tiny_world) -> tuple[bytes, bytes]:
    return (tiny_world / "world.safetensors").read_bytes(), (tiny_world / "starts.safetensors").read_bytes()


@pytest.mark.parametrize("case", WORLD_CASES)
def test_damaged_world_and_starts_files(case, world_bytes, tmp_path):
    from worldsim.starts import StartStates
    from worldsim.world_model import WorldModel

    world, starts = world_bytes
    w, s = _mutations(world, 20, 1)[case], _mutations(starts, 20, 2)[case]
    (tmp_path / "world.safetensors").write_bytes(w)
    (tmp_path / "starts.safetensors").write_bytes(s)
    _fine_or_clean(WorldModel.load, tmp_path / "world.safetensors")
    _fine_or_clean(StartStates.load, tmp_path / "starts.safetensors")


def test_a_directory_or_a_foreign_file_where_a_world_belongs(tmp_path):
    from worldsim.world_model import WorldModel

    (tmp_path / "d.safetensors").mkdir()
    _fine_or_clean(WorldModel.load, tmp_path / "d.safetensors")
    (tmp_path / "j.safetensors").write_text(json.dumps({"not": "safetensors"}))
    _fine_or_clean(WorldModel.load, tmp_path / "j.safetensors")


# -- keywords of gym.make and Simulator -----------------------------------------------------------------------------

ENV_KEYWORDS = ["world", "device", "sampling", "speculative", "backend", "term_threshold", "max_episode_steps",
                "cache_dir", "threads", "precision", "num_envs"]  # fmt: skip


@pytest.mark.parametrize("key", ENV_KEYWORDS)
@pytest.mark.parametrize("value", BAD_VALUES, ids=repr)
def test_gym_make_keywords(key, value, tiny_world):
    import gymnasium as gym

    import worldsim  # noqa: F401 - registers WorldSim-v0
    from worldsim.envs.learned import WorldSimEnv

    kwargs = {"world": str(tiny_world), "device": "cpu", key: value}
    if key in ("num_envs", "max_episode_steps"):  # ours in the vector env (gym.make's own TimeLimit takes the latter)
        _fine_or_clean(lambda: gym.make_vec("WorldSim-v0", **kwargs).close())
    if key == "max_episode_steps":
        _fine_or_clean(lambda: WorldSimEnv(**kwargs).close())
    elif key != "num_envs":
        _fine_or_clean(lambda: gym.make("WorldSim-v0", **kwargs).close())


SAMPLING_VALUES = [{"steps": 0}, {"steps": -3}, {"steps": "four"}, {"context_noise": -0.1}, {"context_noise": 1.5},
                   {"guidance": 2}, {"guidance": {"scale": -1}}, {"guidance": {"parallel": 3}},
                   {"hold": {"threshold": -2}}, {"hold": {"region": [0.5]}}, {"hold": {"still": 2}},
                   {"nonsense": 1}, ["steps"], "steps=2", {"steps": math.inf}]  # fmt: skip


@pytest.mark.parametrize("sampling", SAMPLING_VALUES, ids=repr)
def test_simulator_sampling_overrides(sampling, tiny_world):
    from worldsim.sampling.simulator import Simulator

    _fine_or_clean(Simulator.load, str(tiny_world), device="cpu", sampling=sampling)


# -- text files: scenarios, configs, key maps, action files ----------------------------------------------------------


def _text_mutations(text: str, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    lines = text.splitlines()
    out = ["", "\0\1\2", "[", "{", ": :", "- - -", "\t" + text, text.replace(":", "", 1), "a: " * 50]
    for i in rng.integers(0, max(1, len(lines)), 6):  # a line dropped, a line duplicated, a value swapped
        out.append("\n".join(lines[:i] + lines[i + 1 :]))
        out.append("\n".join(lines[: i + 1] + lines[i:]))
        out.append("\n".join(line.replace(": ", ": [", 1) if j == i else line for j, line in enumerate(lines)))
    return out


SCENARIO = (Path(__file__).parents[1] / "assets" / "scenarios" / "carracing_straight_brake.yaml").read_text()


@pytest.mark.parametrize("case", range(len(_text_mutations(SCENARIO, 3))))
def test_mutated_scenarios(case, tmp_path):
    from worldsim.rollout.scenario import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text(_text_mutations(SCENARIO, 3)[case])
    _fine_or_clean(load_scenario, path)


CONFIG = "steps: 100\nbatch_size: 8\nlr: 0.001\nobjective:\n  context_noise: 0.1\nmodel: tiny\n"


@pytest.mark.parametrize("case", range(len(_text_mutations(CONFIG, 4))))
def test_mutated_training_configs(case, tmp_path):
    from worldsim.config import load_config
    from worldsim.training.train import TrainConfig

    path = tmp_path / "c.yaml"
    path.write_text(_text_mutations(CONFIG, 4)[case])
    _fine_or_clean(load_config, TrainConfig, path, ["data=d"])


KEYS = "actions:\n  up: [w]\n  down: [s]\ncontrols:\n  reset: [r]\n"


@pytest.mark.parametrize("case", range(len(_text_mutations(KEYS, 5))))
def test_mutated_key_maps(case, tmp_path):
    from worldsim.play.keymap import KeyMap
    from worldsim.sources import world_class

    path = tmp_path / "k.yaml"
    path.write_text(_text_mutations(KEYS, 5)[case])
    _fine_or_clean(KeyMap.from_schema, world_class("toy").schema, path)


ACTIONS = ["up,3", "up,100000000000", "up,-1", "up,0", "up,x", "nope,2", "up,2,3", "\0\0", "up," * 100, ""]


@pytest.mark.parametrize("line", ACTIONS, ids=repr)
@pytest.mark.parametrize("suffix", [".txt", ".yaml", ".csv"])
def test_action_files(line, suffix, tmp_path):
    from worldsim.play.actionfile import read_action_file
    from worldsim.sources import world_class

    path = tmp_path / f"a{suffix}"
    path.write_text(line + "\n")
    _fine_or_clean(read_action_file, path, world_class("toy").schema)
    path.write_bytes(bytes(range(256)))  # a binary file
    _fine_or_clean(read_action_file, path, world_class("toy").schema)


def test_the_suite_is_large_enough(request):
    cases = [i for i in request.session.items if i.fspath == request.node.fspath]
    assert len(cases) >= 200, len(cases)
