"""Stopping long jobs without losing work: Ctrl-C or ``kill`` asks a training loop to save and return.

Training loops check :attr:`GracefulStop.requested` once per step; the first SIGINT or SIGTERM sets it, so the
loop writes its train state and ends the way a finished call does ("re-run the same command to continue"),
however far the last periodic checkpoint is. A second signal stops at once (``KeyboardInterrupt``).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulStop:
    """Context manager that turns SIGINT/SIGTERM into a stop request while it is active.

    Handlers can only be installed from the main thread; elsewhere (e.g. a job run from a worker thread) the
    signals keep their usual effect and ``requested`` stays False.

    >>> # with GracefulStop() as stop:
    >>> #     while step < end and not stop.requested: ...
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning(
            "%s: saving after this step, then stopping (send it again to stop at once)", signal.Signals(signum).name
        )
