"""Command-line options generated from a config dataclass: each default and help text is declared once, on the field.

A field's help is its line under ``Attributes:`` in the class docstring; its default is the field's. An option the
user does not give stays out of the namespace, so the dataclass default (and its ``__post_init__`` checks) decide.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from typing import Any

from worldsim.config import from_dict

_ATTR = re.compile(r"^\s{8}(\w+): (.*)$")
_MORE = re.compile(r"^\s{12}(\S.*)$")


def field_help(cls: type) -> dict[str, str]:
    """``{field: help}`` from the ``Attributes:`` section of ``cls``'s Google-style docstring."""
    out: dict[str, str] = {}
    name = None
    in_attrs = False
    for line in (cls.__doc__ or "").splitlines():
        if line.strip() == "Attributes:":
            in_attrs = True
            continue
        if not in_attrs:
            continue
        m = _ATTR.match(line)
        if m:
            name = m.group(1)
            out[name] = m.group(2).strip().replace("``", "")
        elif name and _MORE.match(line):
            out[name] += " " + line.strip().replace("``", "")
        elif line.strip():
            break
    return out


def _scalar(tp: Any) -> Any:
    """The type argparse converts to (``int | None`` -> ``int``); tuples and lists arrive as comma-separated text."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else str
    return tp if tp in (int, float, str) else str


def add_config_args(
    p: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    exclude: tuple[str, ...] = (),
    metavars: dict[str, str] | None = None,
) -> None:
    """One ``--option`` per field of ``cls`` (``side_by_side`` -> ``--side-by-side``); booleans are switches."""
    helps, hints = field_help(cls), typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        text = helps.get(f.name, "")
        if default is not None and default is not False and default != "" and "default" not in text:
            text += f" (default: {default})"
        flag = "--" + f.name.replace("_", "-")
        if hints[f.name] is bool:
            p.add_argument(flag, action="store_true", default=argparse.SUPPRESS, help=text)
            continue
        kind = _scalar(hints[f.name])
        metavar = (metavars or {}).get(f.name)
        p.add_argument(flag, type=kind, default=argparse.SUPPRESS, metavar=metavar, help=text)


def config_from_args(cls: type, args: argparse.Namespace, where: str, **extra: Any) -> Any:
    """``cls`` from the fields given on the command line plus ``extra`` (validated by the one config loader)."""
    names = {f.name for f in dataclasses.fields(cls)}
    data = {k: v for k, v in vars(args).items() if k in names}
    return from_dict(cls, {**data, **extra}, where=where)
