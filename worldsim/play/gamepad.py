"""Gamepads: sticks, d-pad and buttons mapped onto key names, so one key map serves both.

A gamepad never has its own action table: each frame its state becomes a set of *virtual keys*
(left stick left -> ``left``, button 0 -> ``space``, ...) that join the keyboard's held keys. Chords,
rebinding and controls then work the same for both (button 7 -> ``r`` resets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worldsim.errors import ConfigError


def _default_axes() -> dict[tuple[int, int], str]:
    return {(0, -1): "left", (0, 1): "right", (1, -1): "up", (1, 1): "down"}


def _default_buttons() -> dict[int, str]:
    return {0: "space", 1: "left ctrl", 6: "c", 7: "r"}


@dataclass(frozen=True)
class GamepadConfig:
    """How a gamepad maps onto key names.

    Attributes:
        deadzone: Stick deflection (0..1) below which an axis counts as centred.
        axes: ``(axis, direction)`` -> key name; direction -1 or +1 (left stick and triggers).
        buttons: Button index -> key name.
        hat: Whether the first d-pad (hat) acts as the arrow keys.
    """

    deadzone: float = 0.5
    axes: dict[tuple[int, int], str] = field(default_factory=_default_axes)
    buttons: dict[int, str] = field(default_factory=_default_buttons)
    hat: bool = True


@dataclass(frozen=True)
class GamepadState:
    """A snapshot of one gamepad: axis values in -1..1, hat positions ``(x, y)`` and button states."""

    axes: tuple[float, ...] = ()
    hats: tuple[tuple[int, int], ...] = ()
    buttons: tuple[bool, ...] = ()

    @classmethod
    def read(cls, joystick: Any) -> GamepadState:
        """Read a ``pygame.joystick.Joystick``."""
        return cls(
            tuple(joystick.get_axis(i) for i in range(joystick.get_numaxes())),
            tuple(joystick.get_hat(i) for i in range(joystick.get_numhats())),
            tuple(bool(joystick.get_button(i)) for i in range(joystick.get_numbuttons())),
        )


def virtual_keys(state: GamepadState, cfg: GamepadConfig) -> set[str]:
    """Key names held on the gamepad (see the module docstring)."""
    keys = set()
    for (axis, direction), name in cfg.axes.items():
        if axis < len(state.axes) and state.axes[axis] * direction > cfg.deadzone:
            keys.add(name)
    if cfg.hat and state.hats:
        x, y = state.hats[0]
        keys |= {n for n, on in (("left", x < 0), ("right", x > 0), ("up", y > 0), ("down", y < 0)) if on}
    keys |= {name for b, name in cfg.buttons.items() if b < len(state.buttons) and state.buttons[b]}
    return keys


def parse_gamepad(section: dict[str, Any], where: str) -> GamepadConfig:
    """The ``gamepad:`` section of a key file (``deadzone``, ``axes`` like ``"1-": up``, ``buttons``, ``hat``)."""
    from worldsim.play.keymap import key_code, key_label  # the key map imports this module

    if not isinstance(section, dict):
        raise ConfigError(f"{where}: must be a mapping (deadzone, axes, buttons, hat)")
    unknown = set(section) - {"deadzone", "axes", "buttons", "hat"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; use deadzone, axes, buttons, hat")
    default = GamepadConfig()
    try:
        deadzone = float(section.get("deadzone", default.deadzone))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.deadzone: expected a number in 0..1, got {section['deadzone']!r}") from None
    if not 0.0 <= deadzone < 1.0:
        raise ConfigError(f"{where}.deadzone: expected a number in 0..1, got {deadzone}")
    axes = dict(default.axes)
    for spec, name in (section.get("axes") or {}).items():
        text = str(spec).strip()
        if len(text) < 2 or text[-1] not in "+-" or not text[:-1].isdigit():
            raise ConfigError(f"{where}.axes: {spec!r} must be an axis number and a direction, e.g. '1-' or '5+'")
        key_code(name, f"{where}.axes.{spec}")
        axes[(int(text[:-1]), 1 if text[-1] == "+" else -1)] = key_label(key_code(name))
    buttons = dict(default.buttons)
    for b, name in (section.get("buttons") or {}).items():
        if not str(b).isdigit():
            raise ConfigError(f"{where}.buttons: {b!r} must be a button number")
        buttons[int(b)] = key_label(key_code(name, f"{where}.buttons.{b}"))
    return GamepadConfig(deadzone, axes, buttons, bool(section.get("hat", True)))
