"""Gamepads: sticks, d-pad and buttons mapped onto key names, so one key map serves both.

A gamepad never has its own action table: each frame its state becomes a set of *virtual keys*
(left stick left -> ``left``, button 0 -> ``space``, ...) that join the keyboard's held keys. Chords,
rebinding and controls then work the same for both (button 7 -> ``r`` resets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
