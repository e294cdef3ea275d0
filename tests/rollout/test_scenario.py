import re
import textwrap

import pytest

from worldsim.errors import ConfigError
from worldsim.rollout import DatasetStart, SeedStart, load_scenario, shipped_scenarios
from worldsim.rollout.programs import Program, Segment

GOOD = """\
name: toy_demo
description: two branches
world: toy
options: {speed: 3.0}
start:
  seed: 4
  warmup:
    - {action: right, frames: 3}
    - {policy: scripted, frames: 2, params: {noise: 0.0}}
horizon: 10
samples: 3
seed: 7
program: [{action: up, frames: 4}, {action: left}]
branches:
  down: down
  seek: {policy: scripted, params: {noise: 0.1}}
"""


def write(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_scenario(path)
    msg = str(e.value)
    assert "\n" not in msg
    return msg, path


def test_parses_every_field(tmp_path):
    sc = load_scenario(write(tmp_path, GOOD))
    assert sc.name == "toy_demo" and sc.world == "toy" and dict(sc.options) == {"speed": 3.0}
    assert (sc.horizon, sc.samples, sc.seed, sc.model_spec) == (10, 3, 7, "toy")
    assert isinstance(sc.start, SeedStart) and sc.start.seed == 4 and sc.start.warmup.length == 5
    assert [b.name for b in sc.branches] == ["main", "down", "seek"]
    main, down, seek = (b.program for b in sc.branches)
    assert main == Program((Segment(action="up", frames=4), Segment(action="left")))
    assert main.fixed_actions(10, sc.schema).tolist() == [1] * 4 + [3] * 6
    assert down.fixed_actions(10, sc.schema).tolist() == [2] * 10
    assert seek.uses_policy and seek.fixed_actions(10, sc.schema) is None
    assert sc.to_json()["branches"]["seek"] == "policy scripted(noise=0.1) to the end"


def test_dataset_start_and_default_name(tmp_path):
    sc = load_scenario(
        write(
            tmp_path,
            "world: toy\nstart: {dataset: data/toy, episode: 2, frame: 30}\nhorizon: 5\nprogram: noop\n",
            "from_data.yaml",
        )
    )
    assert sc.name == "from_data" and sc.start == DatasetStart("data/toy", 2, 30)


@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_shipped_scenarios_are_valid(name):
    sc = load_scenario(shipped_scenarios()[name])
    assert sc.world in ("carracing", "highway") and len(sc.branches) >= 2 and sc.description


def test_shipped_scenarios_cover_the_issue():
    shipped = [load_scenario(p) for p in shipped_scenarios().values()]
    assert len(shipped) >= 8
    roads = {sc.options.get("scenario") for sc in shipped if sc.world == "highway"}
    assert roads >= {"highway", "merge", "roundabout", "intersection"}
    assert sum(sc.world == "carracing" for sc in shipped) >= 3


def test_unknown_key_names_line_and_suggestion(tmp_path):
    msg, path = error_of(
        tmp_path,
        """\
        world: toy
        start: {seed: 0}
        horizon: 8
        branches:
          a:
            - {action: up, frames: 3}
            - {action: down, framse: 2}
        """,
    )
    assert msg.startswith(f"{path}:7: unknown key 'framse'")
    assert "(did you mean 'frames'?)" in msg


def test_unknown_top_level_key(tmp_path):
    msg, path = error_of(tmp_path, "world: toy\nstart: {seed: 0}\nhorizn: 8\nprogram: up\n")
    assert msg.startswith(f"{path}:3: unknown key 'horizn' in the scenario (did you mean 'horizon'?)")


def test_bad_action_name(tmp_path):
    msg, path = error_of(
        tmp_path, "world: toy\nstart: {seed: 0}\nhorizon: 8\nprogram:\n  - {action: rigth, frames: 2}\n"
    )
    assert msg == (
        f"{path}:5: unknown action 'rigth' for world 'toy' (did you mean 'right'?); valid: noop, up, down, left, right"
    )


def test_negative_duration(tmp_path):
    msg, path = error_of(tmp_path, "world: toy\nstart: {seed: 0}\nhorizon: 8\nprogram: [{action: up, frames: -5}]\n")
    assert msg == f"{path}:4: program: frames must be a positive number of frames, got -5"


def test_negative_warmup_and_horizon(tmp_path):
    msg, path = error_of(tmp_path, "world: toy\nstart: {seed: 0, warmup: [{action: up, frames: 0}]}\nhorizon: 8\n")
    assert msg.startswith(f"{path}:2: warmup: frames must be a positive number")
    msg, path = error_of(tmp_path, "world: toy\nstart: {seed: 0}\nhorizon: -1\nprogram: up\n")
    assert msg.startswith(f"{path}:3: horizon must be an integer >= 1, got -1")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            "world: tyo\nstart: {seed: 0}\nhorizon: 8\nprogram: up\n",
            r":1: unknown world 'tyo' \(did you mean 'toy'\?\)",
        ),
        ("world: toy\nhorizon: 8\nprogram: up\n", r":1: missing key 'start'"),
        ("world: toy\nstart: {seed: 0}\nhorizon: 8\n", r":1: no action program: add `program:` or `branches:`"),
        ("world: toy\nstart: {seed: 0}\nhorizon: 4\nprogram: [{action: up, frames: 6}]\n", r":4: program lasts 6"),
        (
            "world: toy\nstart: {seed: 0}\nhorizon: 4\nprogram: [{action: up}, {action: down}]\n",
            r":4: missing 'frames'",
        ),
        (
            "world: toy\nstart: {sed: 0}\nhorizon: 4\nprogram: up\n",
            r":2: unknown key 'sed' in start .*did you mean 'seed'",
        ),
        ("world: toy\nstart: {seed: 0}\nhorizon: 4\nprogram: {policy: scriptd}\n", r":4: unknown policy 'scriptd'"),
        (
            "world: toy\nstart: {seed: 0}\nhorizon: 4\nprogram:\n  policy: scripted\n  params: {nois: 1}\n",
            r":6: policy 'scripted' has no parameter 'nois'; valid: noise",
        ),
        ("world: toy\noptions: {sped: 2}\nstart: {seed: 0}\nhorizon: 4\nprogram: up\n", r":2: .*Did you mean 'speed'"),
        ("world: toy\nstart: {seed: 0}\nhorizon: 4\nprogram: up\nprogram: down\n", r":5: duplicate key 'program'"),
        ("world: toy\nstart: {seed: 0}\nhorizon: [4\n", r":\d+: not valid YAML"),
        (
            "world: toy\noptions: {speed: 2}\nstart: {dataset: d, episode: 0, frame: 3}\nhorizon: 4\nprogram: up\n",
            r":2: 'options' cannot be combined with a dataset start",
        ),
        ("world: toy\nstart: {seed: 0}\nhorizon: 4\nprogram: [{action: up, frames: 2, params: {a: 1}}]\n", r"params"),
        ("world: toy\nstart: {seed: 0}\nhorizon: 4\nsamples: 0\nprogram: up\n", r":4: samples must be"),
    ],
)
def test_validation_errors(tmp_path, text, pattern):
    msg, path = error_of(tmp_path, text)
    assert msg.startswith(str(path)), msg
    assert re.search(pattern, msg), msg


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ConfigError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.yaml")
    msg, _ = error_of(tmp_path, "")
    assert "the file is empty" in msg
