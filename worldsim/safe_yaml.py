r"""YAML from users, read one way: bounded size, no anchors or aliases, no tags beyond YAML's own, one-line errors.

PyYAML's safe loader never runs code, but it still expands aliases: a few hundred bytes of nested aliases (a
"billion laughs" file) grow into gigabytes once anything walks the result, so a hostile config or scenario could
hang a command or exhaust memory. WorldSim's files (configs, scenarios, key maps, action files) need neither
anchors nor custom tags, so both are refused with the line where they appear, and files over :data:`MAX_BYTES` are
refused before they are parsed.

>>> load("steps: 4\nguidance: {scale: 2}", "example")
{'steps': 4, 'guidance': {'scale': 2}}
>>> load("a: &x [1, 2]\nb: *x", "bomb.yaml")
Traceback (most recent call last):
...
worldsim.errors.ConfigError: bomb.yaml:1: YAML anchors and aliases (&x, *x) are not allowed ... write the value out
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from worldsim.errors import ConfigError

#: Largest YAML file WorldSim reads (its own files are a few kilobytes).
MAX_BYTES = 4 << 20
#: The only explicit tags allowed: YAML's core types (``!!str 007``); ``!!python/...`` and custom tags are refused.
_CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")}


class _Refused(yaml.YAMLError):
    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.problem, self.problem_mark = message, mark


class Loader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors, aliases or foreign tags."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose the next node, refusing it if it carries an anchor or a foreign tag (an alias event has one)."""
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Refused(
                f"YAML anchors and aliases (&{anchor}, *{anchor}) are not allowed in WorldSim files; "
                "write the value out",
                event.start_mark,
            )
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in _CORE_TAGS:
            raise _Refused(f"YAML tag {tag!r} is not allowed in WorldSim files; remove it", event.start_mark)
        return super().compose_node(parent, index)


def read_text(path: str | Path) -> str:
    """The text of a YAML file, or a :class:`ConfigError` naming it (missing, too large, not UTF-8 text)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(
            f"{path}: {size / 2**20:.1f} MB is too large for a WorldSim YAML file (limit {MAX_BYTES >> 20} MB)"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None


def load(text: str, where: str | Path) -> Any:
    """Parse ``text`` (from ``where``, for messages) into Python values."""
    return _parse(yaml.load, text, where)


def compose(text: str, where: str | Path) -> yaml.Node | None:
    """Parse ``text`` into YAML nodes, which keep line numbers (scenario and action files report them)."""
    return _parse(yaml.compose, text, where)


def _parse(fn: Any, text: str, where: str | Path) -> Any:
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{where}: {len(text)} characters is too large for a WorldSim YAML value")
    try:
        return fn(text, Loader=Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark is not None else str(where)
        problem = getattr(e, "problem", None) or str(e).replace("\n", " ")
        if isinstance(e, _Refused):
            raise ConfigError(f"{at}: {problem}") from None
        raise ConfigError(f"{at}: not valid YAML ({problem}); check the indentation and quoting there") from None
