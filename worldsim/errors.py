"""WorldSim's exception hierarchy.

Every error a user can cause derives from :class:`Error`. Messages name the bad value, what was
expected and how to fix it; the CLI prints them as one line instead of a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class Error(Exception):
    """Base class of all WorldSim errors a user can act on."""


class ConfigError(Error):
    """A config file or override is malformed, has an unknown key or a value of the wrong type."""


class UnknownNameError(Error, KeyError):
    """A world, policy, preset or similar name is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidAction(Error, ValueError):
    """An action id or name is not part of the world's action schema."""


class DatasetError(Error):
    """A dataset directory, shard or metadata file is missing, corrupt or inconsistent."""


class CheckpointError(Error):
    """A checkpoint file is missing, corrupt or incompatible."""


class GenerationError(Error):
    """A world produced values that are not finite (damaged weights, or a context far outside its data)."""


class DependencyNotInstalled(Error, ImportError):
    """An optional dependency is missing; the message carries the install command."""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build an error for an unknown ``name`` with a "did you mean" hint and the valid choices."""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownNameError(f"unknown {kind} {name!r}.{hint} Valid choices: {', '.join(choices)}.")
