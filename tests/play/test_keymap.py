import re

import pygame
import pytest

from worldsim.errors import ConfigError
from worldsim.play.gamepad import GamepadState, virtual_keys
from worldsim.play.keymap import KeyMap
from worldsim.sources import world_class

CAR = world_class("carracing").schema
DOOM = world_class("doom").schema


def codes(*names):
    return {pygame.key.key_code(n): i for i, n in enumerate(names)}


def name(km, *held):
    return km.schema.names[km.resolve(codes(*held))]


def test_chords_resolve_to_the_schema_action():
    km = KeyMap.from_schema(CAR)
    assert name(km) == "noop"
    assert name(km, "up") == "gas" and name(km, "w") == "gas"
    assert name(km, "up", "left") == "gas_left"  # the bigger chord wins over "up" alone
    assert name(km, "w", "d") == "gas_right"
    assert name(km, "up", "down") == "brake"  # tie: the key pressed last wins
    assert name(km, "down", "up") == "gas"
    assert name(km, "x") == "noop"  # unbound keys do nothing
    doom = KeyMap.from_schema(DOOM)
    assert name(doom, "up", "left") == "forward_left" and name(doom, "left") == "turn_left"
    assert name(doom, "left ctrl") == "attack"  # schema short name lctrl


def test_help_lists_actions_and_controls():
    rows = dict((m, k) for k, m in KeyMap.from_schema(CAR).help_rows())
    assert rows["gas_left: accelerate and steer left"] == "up+left / w+a"
    assert rows["reset to a new start state"] == "r"


def test_rebinding_file_yaml_and_toml(tmp_path):
    y = tmp_path / "keys.yaml"
    y.write_text("actions:\n  gas: [i]\n  gas_left: ['i+j']\ncontrols:\n  reset: f5\ngamepad:\n  buttons: {3: r}\n")
    km = KeyMap.from_schema(CAR, y)
    assert name(km, "i") == "gas" and name(km, "up") == "noop"  # rebinding replaces the defaults
    assert name(km, "i", "j") == "gas_left" and name(km, "left") == "left"
    assert km.control_for(pygame.key.key_code("f5")) == "reset" and km.control_for(pygame.key.key_code("r")) is None
    assert km.gamepad.buttons[3] == "r" and km.source == str(y)
    t = tmp_path / "keys.toml"
    t.write_text('[actions]\nbrake = ["b", "left shift"]\n')
    km = KeyMap.from_schema(CAR, t)
    assert name(km, "left shift") == "brake" and name(km, "down") == "noop"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("actions:\n  gass: [up]\n", "unknown action in {p} for world 'carracing' 'gass'. Did you mean 'gas'?"),
        ("actions:\n  gas: [uup]\n", "{p}: actions.gas: unknown key 'uup'"),
        ("controls:\n  reset: up\n", "{p}: key 'up' is both control 'reset' and part of action 'gas'"),
        ("controls:\n  resett: x\n", "unknown control in {p} 'resett'. Did you mean 'reset'?"),
        ("actions:\n  gas: [x]\n  brake: [x]\n", "{p}: keys x are bound to both 'gas' and 'brake'"),
        ("keys:\n  gas: x\n", "unknown section in {p} 'keys'"),
        ("gamepad:\n  axes: {up: w}\n", "{p}: gamepad.axes: 'up' must be an axis number and a direction"),
    ],
)
def test_rebinding_errors_name_the_file_and_key(tmp_path, text, message):
    p = tmp_path / "keys.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message.format(p=p))):
        KeyMap.from_schema(CAR, p)


def test_gamepad_maps_onto_key_names():
    cfg = KeyMap.from_schema(CAR).gamepad
    assert virtual_keys(GamepadState(axes=(-0.9, -0.8)), cfg) == {"left", "up"}
    assert virtual_keys(GamepadState(axes=(0.3, 0.1)), cfg) == set()  # inside the deadzone
    assert virtual_keys(GamepadState(hats=((1, -1),)), cfg) == {"right", "down"}
    assert virtual_keys(GamepadState(buttons=(True, False, False, False, False, False, False, True)), cfg) == {
        "space",
        "r",
    }
