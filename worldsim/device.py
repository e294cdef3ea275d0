"""Choosing the torch device: ``auto`` means CUDA when present, else the CPU (CUDA is never required)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from worldsim.errors import ConfigError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` -> ``cuda`` if available else ``cpu``; asking for CUDA where there is none is a :class:`ConfigError`."""
    if not isinstance(name, str | torch.device):
        raise ConfigError(f"device={name!r}: use 'auto', 'cpu' or 'cuda[:i]'")
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} but CUDA is not available here; use device=cpu or device=auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name!r} is not a device; use 'auto', 'cpu' or 'cuda[:i]'") from None


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a clock read after it measures the work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` CPU threads for torch (0 keeps the current count), then restore the count.

    A library call must not leave the process reconfigured.
    """
    before = torch.get_num_threads()
    if not n or n == before:  # nothing to change (and nothing to restore): the common case costs no call
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
