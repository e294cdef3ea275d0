import re

import pytest

from worldsim.errors import ConfigError, InvalidAction
from worldsim.play.actionfile import read_action_file
from worldsim.sources import world_class

CAR = world_class("carracing").schema


def test_text_and_csv_segments(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("# warm up\naction,frames\ngas,3\ngas_left 2\nright*1\nnoop\n\n4  # an id\n")
    assert read_action_file(p, CAR) == [3, 3, 3, 5, 5, 2, 0, 4]


def test_yaml_lists(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text("- gas\n- {gas_left: 2}\n- {action: brake, frames: 3}\n")
    assert read_action_file(p, CAR) == [3, 5, 5, 4, 4, 4]


def test_unknown_action_names_file_line_and_valid_names(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("gas,3\ngass,2\n")
    with pytest.raises(InvalidAction, match=re.escape(f"{p}:2: unknown action for world 'carracing' 'gass'. Did you")):
        read_action_file(p, CAR)
    y = tmp_path / "a.yaml"
    y.write_text("- gas\n- {brak: 2}\n")
    with pytest.raises(InvalidAction, match=re.escape(f"{y}:2:") + ".*Valid choices: brake, gas"):
        read_action_file(y, CAR)


@pytest.mark.parametrize(
    ("text", "message"),
    [("gas,many\n", "{p}:1: frame count 'many' is not a whole number"), ("# nothing\n", "{p}: no actions")],
)
def test_malformed_files(tmp_path, text, message):
    p = tmp_path / "a.txt"
    p.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message.format(p=p))):
        read_action_file(p, CAR)
    with pytest.raises(ConfigError, match="action file not found"):
        read_action_file(tmp_path / "missing.txt", CAR)
