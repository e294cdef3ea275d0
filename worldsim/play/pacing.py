"""Frame pacing and rate measurement for the play loop."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Pacer:
    """Holds a loop to ``fps`` frames per second by sleeping only the time left in each frame.

    Deadlines advance by one period per frame, so small overruns are absorbed without drift; a frame that
    overruns by more than a period restarts the schedule instead of rushing to catch up (steady pacing
    after a hiccup, never a burst of frames).

    Args:
        fps: Target frames per second (0 or less: no pacing, run as fast as possible).
        clock: Seconds, monotonic (injectable for tests).
        sleep: Sleeps for a number of seconds (injectable for tests).
    """

    def __init__(
        self,
        fps: float,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock, self.sleep = clock, sleep
        self.fps = fps
        self.deadline: float | None = None

    @property
    def fps(self) -> float:
        """Target frames per second."""
        return self._fps

    @fps.setter
    def fps(self, value: float) -> None:
        self._fps = float(value)
        self.period = 1.0 / self._fps if self._fps > 0 else 0.0
        self.deadline = None

    def wait(self) -> float:
        """Sleep until the current frame's deadline; returns the seconds slept."""
        now = self.clock()
        if self.period <= 0:
            return 0.0
        if self.deadline is None or now - self.deadline > self.period:
            self.deadline = now + self.period  # first frame, or fell far behind: restart the schedule
            return 0.0
        slept = max(0.0, self.deadline - now)
        if slept > 0:
            self.sleep(slept)
        self.deadline += self.period
        return slept


class RateMeter:
    """Events per second from the intervals between them over a sliding time window (the HUD's FPS).

    The last interval always counts, so a frame slower than the window shows its own rate (0.5 for a 2 s frame),
    never 0.
    """

    def __init__(self, window: float = 1.0, clock: Callable[[], float] = time.perf_counter) -> None:
        self.window, self.clock = window, clock
        self.times: deque[float] = deque()

    def tick(self) -> None:
        """Count one event now."""
        now = self.clock()
        self.times.append(now)
        while len(self.times) > 2 and now - self.times[0] > self.window:
            self.times.popleft()

    @property
    def rate(self) -> float:
        """Events per second in the window (0 until two events were seen)."""
        if len(self.times) < 2:
            return 0.0
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0
