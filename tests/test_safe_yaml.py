"""Hostile YAML: alias bombs, foreign tags and oversized files end in one line naming the file, fast."""

import time

import pytest

from worldsim import safe_yaml
from worldsim.config import load_config
from worldsim.errors import ConfigError

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
TAGS = [
    "x: !!python/object/apply:os.system ['touch pwned']\n",
    "x: !!python/name:os.system\n",
    "x: !custom 3\n",
]


def _one_line(err: ConfigError, path) -> None:
    text = str(err)
    assert "\n" not in text and str(path) in text


@pytest.mark.parametrize("text", [LAUGHS, "unknown_key: " + LAUGHS.replace("\n", "\n  "), *TAGS])
def test_config_files_refuse_bombs_and_tags(tmp_path, text):
    from worldsim.eval.run import EvalConfig

    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        load_config(EvalConfig, path)
    assert time.perf_counter() - t0 < 1.0
    _one_line(err.value, path)
    assert "not allowed" in str(err.value)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("text", [LAUGHS, "world: toy\nnotes: " + LAUGHS.replace("\n", "\n  "), *TAGS])
def test_scenarios_and_action_files_refuse_bombs_and_tags(tmp_path, text):
    from worldsim.play.actionfile import read_action_file
    from worldsim.rollout.scenario import load_scenario
    from worldsim.sources import world_class

    scenario, actions = tmp_path / "s.yaml", tmp_path / "a.yaml"
    scenario.write_text(text)
    actions.write_text(text)
    with pytest.raises(ConfigError, match="not allowed") as err:
        load_scenario(scenario)
    _one_line(err.value, scenario)
    with pytest.raises(ConfigError, match="not allowed") as err:
        read_action_file(actions, world_class("toy").schema)
    _one_line(err.value, actions)


def test_oversized_files_and_overrides_are_refused_before_parsing(tmp_path, monkeypatch):
    from worldsim.config import apply_overrides

    monkeypatch.setattr(safe_yaml, "MAX_BYTES", 1000)
    big = tmp_path / "big.yaml"
    big.write_text("x: 1\n" * 400)
    with pytest.raises(ConfigError, match="too large"):
        safe_yaml.read_text(big)
    with pytest.raises(ConfigError, match="not allowed"):
        apply_overrides({}, ["steps=!!python/name:os.system"])
    assert apply_overrides({}, ["guidance.scale=2"]) == {"guidance": {"scale": 2}}


def test_the_cli_answers_a_bomb_in_one_line(tmp_path, capsys):
    from worldsim.cli import main

    path = tmp_path / "bomb.yaml"
    path.write_text(LAUGHS)
    assert main(["rollout", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) in (1, 2)
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out and "not allowed" in out.err + out.out


def test_every_refused_construct_of_a_file_is_listed_in_one_line():
    from worldsim.errors import ConfigError
    from worldsim.safe_yaml import load

    text = 'a: &x 1\nb: *x\nc: !!python/object:os.system "ls"\nd: !custom 3\n'
    with pytest.raises(ConfigError) as e:
        load(text, "bad.yaml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("bad.yaml:1:")
    for part in ("line 1: anchor &x", "line 2: alias *x", "line 3: tag", "python/object", "line 4: tag '!custom'"):
        assert part in msg
