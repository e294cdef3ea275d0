"""YAML read into values that remember their line, so scenario errors can say ``file.yaml:12: ...``.

``yaml.safe_load`` throws the positions away; composing the node tree keeps them. Every mapping, list and
scalar becomes a :class:`Located` with its 1-based line; mapping keys keep their own lines (an unknown key
is reported where the key is, not where its value starts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from worldsim import safe_yaml
from worldsim.errors import ConfigError


@dataclass
class Located:
    """A YAML value with where it came from.

    Attributes:
        value: ``dict[str, Located]`` for a mapping, ``list[Located]`` for a sequence, else the scalar
            (``str``, ``int``, ``float``, ``bool`` or ``None``) as YAML's safe loader types it.
        line: 1-based line of the value.
        key_lines: For a mapping, the 1-based line of each key.
    """

    value: Any
    line: int
    key_lines: dict[str, int] = field(default_factory=dict)

    @property
    def is_map(self) -> bool:
        """Whether the value is a mapping."""
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        """Whether the value is a sequence."""
        return isinstance(self.value, list)

    def plain(self) -> Any:
        """The value with every nested :class:`Located` unwrapped (plain dicts, lists and scalars)."""
        if self.is_map:
            return {k: v.plain() for k, v in self.value.items()}
        if self.is_list:
            return [v.plain() for v in self.value]
        return self.value


def load_located(path: str | Path) -> Located:
    """Read a YAML file into :class:`Located` values.

    Raises:
        ConfigError: the file is missing, is not valid YAML (with the line of the problem), is empty, or has a
            duplicate or non-string key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: scenario file not found")
    try:
        node = safe_yaml.compose(safe_yaml.read_text(path), path)
    except ConfigError as e:
        if "not a UTF-8 text file" in str(e):
            raise ConfigError(f"{path}: not a text file; a scenario is a YAML file") from None
        raise
    if node is None:
        raise ConfigError(f"{path}: the file is empty; see docs/scenarios.md for the format")
    return _convert(node, path, yaml.SafeLoader(""))


def _convert(node: yaml.Node, path: Path, loader: yaml.SafeLoader) -> Located:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        out: dict[str, Located] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise ConfigError(f"{path}:{key_line}: key {key!r} must be a name (a string)")
            if key in out:
                raise ConfigError(f"{path}:{key_line}: duplicate key {key!r} (first on line {lines[key]}); keep one")
            out[key], lines[key] = _convert(value_node, path, loader), key_line
        return Located(out, line, lines)
    if isinstance(node, yaml.SequenceNode):
        return Located([_convert(n, path, loader) for n in node.value], line)
    return Located(loader.construct_object(node), line)
