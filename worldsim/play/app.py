"""The play window: a loading screen while the world warms up, then the paced game loop.

>>> from worldsim.play import PlayConfig, build_session, PlayApp   # doctest: +SKIP
>>> session = build_session(PlayConfig(world="carracing"))         # doctest: +SKIP
>>> PlayApp(session, scale=8).run()                                # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pygame

from worldsim.play.hud import draw_help, draw_hud, draw_loading, draw_message
from worldsim.play.pacing import Pacer
from worldsim.play.session import PlaySession
from worldsim.play.window import draw_panes, open_window, window_pixels
from worldsim.video import write_png

log = logging.getLogger(__name__)


class PlayApp:
    """A window around a :class:`PlaySession`.

    Args:
        session: The session (built, not started: :meth:`load` warms it up behind the loading screen).
        scale: Window pixels per model pixel.
        record: Start recording into this directory once loaded.
    """

    def __init__(self, session: PlaySession, scale: int = 8, record: str | Path | None = None) -> None:
        self.session, self.scale, self.record = session, scale, record
        self.pacer = Pacer(session.opt.fps)
        self.surface: pygame.Surface | None = None
        self.panes = 0
        self.last_screenshot: Path | None = None
        self.load_error: BaseException | None = None

    def open(self) -> pygame.Surface:
        """Open the window (raises :class:`~worldsim.play.window.NoDisplayError` without a display)."""
        h, w = self.session.sim.resolution
        panes = 2 if self.session.opt.side_by_side else 1
        self.surface = open_window((w * self.scale * panes, h * self.scale), f"WorldSim: {self.session.sim.name}")
        self.panes = panes
        return self.surface

    def load(self) -> bool:
        """Warm up in a background thread while the loading screen animates; False if the user quit."""
        stage = ["loading the world"]
        done = threading.Event()

        def work() -> None:
            try:
                self.session.start(progress=lambda text: stage.__setitem__(0, text))
            except BaseException as e:  # noqa: BLE001 - re-raised in the main thread below
                self.load_error = e
            finally:
                done.set()

        thread = threading.Thread(target=work, name="worldsim-warmup", daemon=True)
        t0 = time.perf_counter()
        thread.start()
        quit_requested = False
        while not done.is_set():
            for e in pygame.event.get():
                quit_requested |= e.type == pygame.QUIT or (e.type == pygame.KEYDOWN and e.key == pygame.K_ESCAPE)
            draw_loading(
                pygame.display.get_surface(), f"WorldSim: {self.session.sim.name}", stage[0], time.perf_counter() - t0
            )
            pygame.display.flip()
            done.wait(1 / 30)
        thread.join()
        if self.load_error is not None:
            raise self.load_error
        if self.record:
            self.session.start_recording(self.record)
        return not quit_requested

    def frame(self) -> bool:
        """One iteration: drain input, generate (unless paused), draw, pace. False once the player quit."""
        s = self.session
        for event in pygame.event.get():
            s.handle(event)
        s.update()
        self._draw()
        if s.screenshot_requested:
            s.screenshot_requested = False
            self.screenshot()
        pygame.display.flip()
        self.pacer.wait()
        return s.running

    def _draw(self) -> None:
        s = self.session
        panes = s.panes()
        if len(panes) != self.panes:  # the reference pane came or went: widen or narrow the window
            h = pygame.display.get_surface().get_height()
            w = int(h * panes[0][0].shape[1] / panes[0][0].shape[0]) * len(panes)
            self.surface = pygame.display.set_mode((w, h), pygame.RESIZABLE)
            self.panes = len(panes)
        surface = pygame.display.get_surface()
        draw_panes(surface, panes)
        if s.show_help and s.keymap is not None:
            draw_help(surface, s.keymap.help_rows(), f"WorldSim: {s.sim.name}  (keys from {s.keymap.source})")
        elif s.show_hud:
            draw_hud(surface, s.hud_lines(), s.current_message)
        elif s.current_message:
            draw_message(surface, s.current_message)

    def screenshot(self, path: str | Path | None = None) -> Path:
        """Save the window as a PNG (default: ``save_dir/screenshot-WORLD-TIME.png``)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(path or Path(self.session.opt.save_dir) / f"screenshot-{self.session.sim.name}-{stamp}.png")
        write_png(path, window_pixels(pygame.display.get_surface()))
        self.last_screenshot = path
        self.session.notify(f"screenshot saved: {path}")
        return path

    def pixels(self) -> np.ndarray:
        """The window's current pixels ``(H, W, 3)``."""
        return window_pixels(pygame.display.get_surface())

    def run(self) -> dict[str, Any]:
        """Open the window, warm up, play until the player quits; returns a summary."""
        self.open()
        t0 = time.perf_counter()
        try:
            if self.load():
                while self.frame():
                    pass
        finally:
            self.session.close()
            pygame.display.quit()
        return {
            "frames": self.session.frames,
            "seconds": round(time.perf_counter() - t0, 1),
            "warmup_s": round(self.session.warmup_seconds, 1),
            "expected_fps": round(self.session.expected_fps, 1),
        }
