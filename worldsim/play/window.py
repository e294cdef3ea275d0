"""The pygame window: opening it (or saying clearly why there is none), laying out and drawing the panes."""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pygame

from worldsim.errors import Error
from worldsim.play.hud import DIM, font

#: SDL drivers that draw nowhere; SDL falls back to them silently when no display is reachable.
INVISIBLE_DRIVERS = ("offscreen", "dummy")


class NoDisplayError(Error):
    """No display to open a window on."""


NO_DISPLAY_FIX = (
    "run `worldsim play --headless --actions FILE --out video.mp4` instead, "
    "or give it a virtual display: `xvfb-run -s '-screen 0 1280x720x24' worldsim play`"
)


def init_display() -> None:
    """Initialise pygame's display, keyboard and joystick modules (not audio); check a display is there.

    Raises:
        NoDisplayError: SDL found no display (no X11/Wayland on Linux, or a headless session), unless an
            invisible driver was asked for with ``SDL_VIDEODRIVER`` (tests use ``dummy``).
    """
    requested = os.environ.get("SDL_VIDEODRIVER", "").lower()
    if (
        sys.platform.startswith("linux")
        and requested not in INVISIBLE_DRIVERS
        and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    ):
        raise NoDisplayError(f"no display available (DISPLAY and WAYLAND_DISPLAY are not set); {NO_DISPLAY_FIX}")
    try:
        pygame.display.init()
    except pygame.error as e:
        raise NoDisplayError(f"no display available ({e}); {NO_DISPLAY_FIX}") from None
    driver = pygame.display.get_driver()
    if driver in INVISIBLE_DRIVERS and requested not in INVISIBLE_DRIVERS:
        pygame.display.quit()
        raise NoDisplayError(f"no display available (SDL fell back to the {driver!r} driver); {NO_DISPLAY_FIX}")
    pygame.font.init()
    pygame.joystick.init()


def open_window(size: tuple[int, int], title: str) -> pygame.Surface:
    """A resizable window of ``size`` (width, height) pixels."""
    init_display()
    try:
        surface = pygame.display.set_mode(size, pygame.RESIZABLE)
    except pygame.error as e:
        raise NoDisplayError(f"cannot open a window ({e}); {NO_DISPLAY_FIX}") from None
    pygame.display.set_caption(title)
    return surface


def fit(rect: pygame.Rect, aspect: float) -> pygame.Rect:
    """The largest rectangle of ``aspect`` (width / height) centred in ``rect`` (letterboxing)."""
    w = min(rect.width, int(rect.height * aspect))
    h = min(rect.height, int(w / aspect))
    return pygame.Rect(0, 0, w, h).move(rect.x + (rect.width - w) // 2, rect.y + (rect.height - h) // 2)


def to_surface(frame: np.ndarray) -> pygame.Surface:
    """A pygame surface of an RGB uint8 ``(H, W, 3)`` frame."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    return pygame.image.frombuffer(frame.tobytes(), (frame.shape[1], frame.shape[0]), "RGB")


def draw_panes(surface: pygame.Surface, panes: list[tuple[np.ndarray, str]], labels: bool = True) -> None:
    """Draw frames side by side, each scaled (nearest neighbour, pixels stay crisp) to fill its column."""
    surface.fill((0, 0, 0))
    w, h = surface.get_size()
    col = w // len(panes)
    f = font(max(12, min(20, h // 30)))
    for i, (frame, label) in enumerate(panes):
        fh, fw = frame.shape[:2]
        rect = fit(pygame.Rect(i * col, 0, col, h), fw / fh)
        surface.blit(pygame.transform.scale(to_surface(frame), rect.size), rect)
        if labels and len(panes) > 1:
            text = f.render(label, True, DIM)
            surface.blit(text, text.get_rect(midbottom=(rect.centerx, rect.bottom - 4)))


def window_pixels(surface: pygame.Surface) -> np.ndarray:
    """The window's current pixels as RGB uint8 ``(H, W, 3)`` (for screenshots)."""
    with warnings.catch_warnings():  # surfarray warns about an optional dependency it does not need here
        warnings.simplefilter("ignore")
        return np.ascontiguousarray(pygame.surfarray.array3d(surface).transpose(1, 0, 2))
