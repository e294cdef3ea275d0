r"""YAML from users, read one way: bounded size, no anchors or aliases, no tags beyond YAML's own, one-line errors.

PyYAML's safe loader never runs code, but it still expands aliases: a few hundred bytes of nested aliases (a
"billion laughs" file) grow into gigabytes once anything walks the result, so a hostile config or scenario could
hang a command or exhaust memory. WorldSim's files (configs, scenarios, key maps, action files) need neither
anchors nor custom tags, so both are refused with the line where they appear, and files over :data:`MAX_BYTES` are
refused before they are parsed. Every refused construct of a file is listed in the one error.

>>> load("steps: 4\nguidance: {scale: 2}", "example")
{'steps': 4, 'guidance': {'scale': 2}}
>>> load("a: &x [1, 2]\nb: *x", "bomb.yaml")
Traceback (most recent call last):
...
worldsim.errors.ConfigError: bomb.yaml:1: YAML anchors, aliases and tags ... (line 1: anchor &x; line 2: alias *x); ...
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
    """PyYAML's safe loader without anchors, aliases or foreign tags.

    Every refused construct is noted (``problems``) and parsing goes on without it (an alias becomes null, an
    anchor or a tag is dropped, so nothing is ever expanded), so one error can list every problem of a file.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[tuple[Any, str]] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose the next node; note and drop an alias, an anchor or a foreign tag."""
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.get_event()
            self.problems.append((event.start_mark, f"alias *{event.anchor}"))
            return yaml.ScalarNode("tag:yaml.org,2002:null", "", event.start_mark, event.end_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.problems.append((event.start_mark, f"anchor &{anchor}"))
            event.anchor = None
        tag = getattr(event, "tag", None)
        if tag not in (None, "!") and tag not in _CORE_TAGS:
            self.problems.append((event.start_mark, f"tag {tag!r}"))
            event.tag = None
            if isinstance(event, yaml.ScalarEvent):
                event.implicit = (True, True)  # resolved as the plain value it would be without the tag
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
    return _parse(True, text, where)


def compose(text: str, where: str | Path) -> yaml.Node | None:
    """Parse ``text`` into YAML nodes, which keep line numbers (scenario and action files report them)."""
    return _parse(False, text, where)


def _parse(construct: bool, text: str, where: str | Path) -> Any:
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{where}: {len(text)} characters is too large for a WorldSim YAML value")
    loader = None
    try:
        loader = Loader(text)  # its reader refuses control characters at once
        node = loader.get_single_node()
        if loader.problems:
            raise ConfigError(_refusal(loader.problems, where))
        return loader.construct_document(node) if construct and node is not None else node
    except yaml.YAMLError as e:
        if loader is not None and loader.problems:  # the refused constructs first: they may be what broke the rest
            raise ConfigError(_refusal(loader.problems, where)) from None
        mark = getattr(e, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark is not None else str(where)
        problem = getattr(e, "problem", None) or str(e).replace("\n", " ")
        raise ConfigError(f"{at}: not valid YAML ({problem}); check the indentation and quoting there") from None
    finally:
        if loader is not None:
            loader.dispose()


def _refusal(problems: list[tuple[Any, str]], where: str | Path) -> str:
    """One line naming every refused construct with its line, and the fix."""
    found = "; ".join(f"line {mark.line + 1}: {what}" for mark, what in problems[:20])
    more = f" and {len(problems) - 20} more" if len(problems) > 20 else ""
    first = problems[0][0].line + 1
    return (
        f"{where}:{first}: YAML anchors, aliases and tags other than YAML's own are not allowed in WorldSim files "
        f"({found}{more}); write the values out and remove the tags"
    )
