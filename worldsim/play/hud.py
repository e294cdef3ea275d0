"""Drawing text over the play window: the HUD, the help overlay, messages and the loading screen."""

from __future__ import annotations

import functools
import math

import pygame

WHITE = (240, 240, 240)
DIM = (160, 160, 160)
ACCENT = (255, 200, 60)
ALERT = (255, 80, 80)


@functools.cache
def font(size: int) -> pygame.font.Font:
    """The bundled default font of pygame at ``size`` pixels (no system fonts needed)."""
    if not pygame.font.get_init():
        pygame.font.init()
    return pygame.font.Font(None, size)


def text_size(surface: pygame.Surface) -> int:
    """A font size that reads well on a window this large."""
    return max(14, min(26, surface.get_height() // 24))


def panel(surface: pygame.Surface, rect: pygame.Rect, alpha: int = 170) -> None:
    """A translucent dark box behind text."""
    box = pygame.Surface(rect.size, pygame.SRCALPHA)
    box.fill((0, 0, 0, alpha))
    surface.blit(box, rect.topleft)


def draw_lines(
    surface: pygame.Surface,
    lines: list[str],
    pos: tuple[int, int] = (8, 8),
    size: int | None = None,
    color: tuple[int, int, int] = WHITE,
) -> pygame.Rect:
    """Draw ``lines`` on a translucent panel at ``pos``; returns the panel's rectangle."""
    f = font(size or text_size(surface))
    rendered = [f.render(t, True, ALERT if ("ENDED" in t or "REC" in t) else color) for t in lines]
    w = max((r.get_width() for r in rendered), default=0) + 12
    h = sum(r.get_height() for r in rendered) + 8
    rect = pygame.Rect(pos, (w, h))
    panel(surface, rect)
    y = pos[1] + 4
    for r in rendered:
        surface.blit(r, (pos[0] + 6, y))
        y += r.get_height()
    return rect


def draw_hud(surface: pygame.Surface, lines: list[str], message: str = "") -> None:
    """The HUD at the top left, and a message (if any) at the bottom."""
    draw_lines(surface, lines)
    if message:
        draw_message(surface, message)


def draw_message(surface: pygame.Surface, message: str) -> None:
    """A one-line message centred at the bottom of the window."""
    f = font(text_size(surface))
    r = f.render(message, True, ACCENT)
    rect = r.get_rect(midbottom=(surface.get_width() // 2, surface.get_height() - 10))
    panel(surface, rect.inflate(16, 8))
    surface.blit(r, rect)


def draw_help(surface: pygame.Surface, rows: list[tuple[str, str]], title: str) -> None:
    """The help overlay: every key binding and what it does, in two columns over a dark screen."""
    panel(surface, surface.get_rect(), alpha=210)
    size = max(12, min(22, surface.get_height() // (len(rows) + 4)))
    f = font(size)
    head = font(size + 6).render(title, True, ACCENT)
    surface.blit(head, (16, 12))
    key_w = max(f.size(k)[0] for k, _ in rows) + 24
    y = 20 + head.get_height()
    for keys, meaning in rows:
        surface.blit(f.render(keys, True, ACCENT), (16, y))
        surface.blit(f.render(meaning, True, WHITE), (16 + key_w, y))
        y += f.get_linesize()


def draw_loading(surface: pygame.Surface, title: str, stage: str, elapsed: float) -> None:
    """The loading screen shown while the world warms up: title, current stage, a spinner and the time."""
    surface.fill((12, 12, 16))
    w, h = surface.get_size()
    big, small = font(max(20, h // 12)), font(max(14, h // 28))
    t = big.render(title, True, WHITE)
    surface.blit(t, t.get_rect(center=(w // 2, h // 2 - h // 8)))
    s = small.render(f"{stage}  ({elapsed:.0f} s)", True, DIM)
    surface.blit(s, s.get_rect(center=(w // 2, h // 2 + h // 8)))
    radius, phase = max(8, h // 20), elapsed * 6.0
    for i in range(8):  # the dot at the spinner's head is brightest
        a = phase + i * math.pi / 4
        shade = 60 + 25 * i
        center = (int(w // 2 + radius * math.cos(a)), int(h // 2 + radius * math.sin(a)))
        pygame.draw.circle(surface, (shade, shade, shade), center, max(2, radius // 5))
