"""Keyboard bindings: the world's action schema (plus an optional rebinding file) as pygame key chords.

Every action has zero or more bindings; a binding is a *chord*, a set of keys held together
(``up+left`` -> ``gas_left``). Each frame the held keys resolve to one action: the bound chord with the
most keys wins (so up+left gives ``gas_left``, not ``gas``), ties go to the chord whose key was pressed last
(holding up, then pressing down, brakes), and nothing held is action 0 ("no input" by convention).

Player controls (reset, pause, ...) have their own keys, checked against the action keys so that no key
does two things. A rebinding file (YAML or TOML) replaces the bindings it names::

    actions:
      gas: [up, w]
      gas_left: ["up+left", "w+a"]
      brake: [down, s, "left shift"]
    controls:
      screenshot: f10
    gamepad:
      deadzone: 0.4
      buttons: {0: space, 7: r}

Key names are pygame's (``pygame.key.name``: ``up``, ``w``, ``space``, ``left ctrl``, ``f12``, ``[``); the
short forms ``lctrl``, ``rshift``, ``esc``... are accepted too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygame

from worldsim.actions import ActionSchema
from worldsim.config import read_config_file
from worldsim.errors import ConfigError, unknown_name
from worldsim.play.gamepad import GamepadConfig

#: Short key names used in action schemas -> pygame's names.
ALIASES = {
    "lctrl": "left ctrl",
    "rctrl": "right ctrl",
    "lshift": "left shift",
    "rshift": "right shift",
    "lalt": "left alt",
    "ralt": "right alt",
    "esc": "escape",
    "enter": "return",
    "del": "delete",
}

#: Player controls and their default keys (none is used by a shipped world's actions).
DEFAULT_CONTROLS: dict[str, tuple[str, ...]] = {
    "quit": ("escape",),
    "help": ("h", "f1"),
    "hud": ("tab",),
    "reset": ("r",),
    "pause": ("p",),
    "step": ("n", "."),
    "steps_down": ("[",),
    "steps_up": ("]",),
    "speculation": ("l",),
    "controller": ("c",),
    "side_by_side": ("v",),
    "screenshot": ("f12",),
    "record": ("f9",),
}

#: One-line descriptions of the controls, for the help overlay and the docs.
CONTROL_HELP = {
    "quit": "quit",
    "help": "show / hide this help",
    "hud": "show / hide the HUD",
    "reset": "reset to a new start state",
    "pause": "pause / resume",
    "step": "single step (while paused)",
    "steps_down": "fewer denoising steps",
    "steps_up": "more denoising steps",
    "speculation": "speculative rollouts on / off",
    "controller": "switch controller: human / policy / replay",
    "side_by_side": "side by side with the real simulator",
    "screenshot": "screenshot (PNG)",
    "record": "start / stop recording (mp4 + dataset episode)",
}


def key_code(name: str, where: str = "key") -> int:
    """The pygame key code of a key name (pygame's names or a short alias); errors name ``where``."""
    text = str(name).strip().lower()
    try:
        with warnings.catch_warnings():  # pygame warns before pygame.init(), but names map to codes all the same
            warnings.simplefilter("ignore")
            return pygame.key.key_code(ALIASES.get(text, text))
    except ValueError:
        raise ConfigError(
            f"{where}: unknown key {name!r}; use pygame key names such as up, w, space, 'left ctrl', f12, ["
        ) from None


def key_label(code: int) -> str:
    """Display name of a key code (``up``, ``left ctrl``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pygame.key.name(code) or f"key {code}"


def parse_chord(text: str | list | tuple, where: str) -> tuple[frozenset[int], str]:
    """``"up+left"`` (or ``["up", "left"]``) -> the set of key codes held together, and its display label."""
    parts = text if isinstance(text, list | tuple) else [p for p in str(text).split("+") if p.strip()]
    if not parts:
        raise ConfigError(f"{where}: empty key binding")
    codes = [key_code(p, where) for p in parts]
    return frozenset(codes), "+".join(key_label(c) for c in codes)


@dataclass(frozen=True)
class Binding:
    """One chord bound to one action id."""

    chord: frozenset[int]
    action: int
    label: str = ""


@dataclass
class KeyMap:
    """Resolved key bindings of one world: actions, player controls and the gamepad mapping.

    Attributes:
        schema: The world's actions.
        bindings: Every action chord.
        controls: Control name -> key codes that trigger it.
        gamepad: How gamepad sticks and buttons map onto key names.
        source: Where the bindings came from (for messages).
    """

    schema: ActionSchema
    bindings: list[Binding]
    controls: dict[str, frozenset[int]]
    gamepad: GamepadConfig = field(default_factory=GamepadConfig)
    source: str = "defaults"

    @classmethod
    def from_schema(cls, schema: ActionSchema, path: str | Path | None = None) -> KeyMap:
        """The schema's default keys, with the rebinding file at ``path`` (if any) applied and validated."""
        chords: dict[str, list[tuple[frozenset[int], str]]] = {
            a.name: [parse_chord(list(k), f"schema of {schema.world!r}: {a.name}") for k in a.keys]
            for a in schema.actions
        }
        controls = {name: frozenset(key_code(k) for k in keys) for name, keys in DEFAULT_CONTROLS.items()}
        gamepad = GamepadConfig()
        source = "defaults"
        if path is not None:
            data = read_config_file(path)
            _check_sections(data, path)
            chords.update(_parse_actions(data.get("actions") or {}, schema, path))
            controls.update(_parse_controls(data.get("controls") or {}, path))
            gamepad = parse_gamepad(data.get("gamepad") or {}, f"{path}: gamepad")
            source = str(path)
        bindings = [Binding(c, schema.index(name), label) for name, cs in chords.items() for c, label in cs]
        keymap = cls(schema, bindings, controls, gamepad, source)
        keymap._check_conflicts(path)
        return keymap

    def resolve(self, held: dict[int, int]) -> int:
        """The action id of the held keys (key code -> press order, larger = pressed later).

        The bound chord with the most keys wins; ties go to the chord with the most recently pressed key;
        nothing bound is held: action 0.
        """
        best, best_score = 0, (0, -1)
        for b in self.bindings:
            if b.chord <= held.keys():
                score = (len(b.chord), max(held[k] for k in b.chord))
                if score > best_score:
                    best, best_score = b.action, score
        return best

    def control_for(self, code: int) -> str | None:
        """The control a key triggers, if any."""
        for name, codes in self.controls.items():
            if code in codes:
                return name
        return None

    def action_keys(self, action: int) -> list[str]:
        """Display strings of an action's chords, e.g. ``["up+left", "w+a"]``."""
        return [b.label for b in self.bindings if b.action == action]

    def control_keys(self, control: str) -> list[str]:
        """Display strings of the keys of a control."""
        return sorted(key_label(k) for k in self.controls.get(control, ()))

    def help_rows(self) -> list[tuple[str, str]]:
        """``(keys, meaning)`` rows of the help overlay: actions first, then controls."""
        rows = []
        for i, a in enumerate(self.schema.actions):
            keys = " / ".join(self.action_keys(i)) or "(no keys held)"
            rows.append((keys, f"{a.name}" + (f": {a.description}" if a.description else "")))
        rows += [(" / ".join(self.control_keys(c)), CONTROL_HELP[c]) for c in self.controls]
        return rows

    def _check_conflicts(self, path: str | Path | None) -> None:
        where = str(path) if path is not None else f"default keys of world {self.schema.world!r}"
        seen: dict[frozenset[int], int] = {}
        for b in self.bindings:
            if seen.get(b.chord, b.action) != b.action:
                raise ConfigError(
                    f"{where}: keys {b.label} are bound to both "
                    f"{self.schema.names[seen[b.chord]]!r} and {self.schema.names[b.action]!r}; bind each chord once"
                )
            seen[b.chord] = b.action
        action_keys: dict[int, int] = {}
        for b in self.bindings:
            for k in b.chord:
                action_keys.setdefault(k, b.action)
        owner: dict[int, str] = {}
        for name, codes in self.controls.items():
            for k in codes:
                if k in action_keys:
                    raise ConfigError(
                        f"{where}: key {key_label(k)!r} is both control {name!r} and part of action "
                        f"{self.schema.names[action_keys[k]]!r}; rebind one of them (controls: section)"
                    )
                if k in owner:
                    raise ConfigError(
                        f"{where}: key {key_label(k)!r} is bound to controls {owner[k]!r} and {name!r}; bind it once"
                    )
                owner[k] = name


def _check_sections(data: dict[str, Any], path: str | Path) -> None:
    for key in data:
        if key not in ("actions", "controls", "gamepad"):
            raise ConfigError(str(unknown_name(f"section in {path}", key, ["actions", "controls", "gamepad"])))


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _parse_actions(section: Any, schema: ActionSchema, path: str | Path) -> dict[str, list[tuple[frozenset[int], str]]]:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: actions must map action names to keys, e.g. gas: [up, w]")
    out = {}
    for name, keys in section.items():
        if name not in schema.names:
            raise ConfigError(
                str(unknown_name(f"action in {path} for world {schema.world!r}", str(name), schema.names))
            )
        out[name] = [parse_chord(k, f"{path}: actions.{name}") for k in _as_list(keys) if k not in (None, "")]
    return out


def _parse_controls(section: Any, path: str | Path) -> dict[str, frozenset[int]]:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: controls must map control names to keys, e.g. reset: r")
    out = {}
    for name, keys in section.items():
        if name not in DEFAULT_CONTROLS:
            raise ConfigError(str(unknown_name(f"control in {path}", str(name), DEFAULT_CONTROLS)))
        out[name] = frozenset(key_code(k, f"{path}: controls.{name}") for k in _as_list(keys))
    return out


def parse_gamepad(section: dict[str, Any], where: str) -> GamepadConfig:
    """The ``gamepad:`` section of a key file (``deadzone``, ``axes`` like ``"1-": up``, ``buttons``, ``hat``)."""
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
