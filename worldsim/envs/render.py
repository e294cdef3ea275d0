"""``render_mode="human"``: a thin pygame window for the envs (the play window is :mod:`worldsim.play.window`)."""

from __future__ import annotations

import numpy as np

from worldsim.errors import DependencyNotInstalled


class Window:
    """A thin pygame window showing frames upscaled, paced at the world's frame rate."""

    def __init__(self, title: str, fps: float, scale: int = 8) -> None:
        try:
            import pygame
        except ImportError:
            raise DependencyNotInstalled("render_mode='human' needs pygame: pip install pygame-ce") from None
        self.pygame, self.fps, self.scale = pygame, fps, scale
        pygame.display.init()
        pygame.display.set_caption(title)
        self.screen = None
        self.clock = pygame.time.Clock()

    def show(self, frame: np.ndarray) -> None:
        """Draw one frame and wait for the next frame time."""
        pg = self.pygame
        h, w = frame.shape[:2]
        if self.screen is None:
            self.screen = pg.display.set_mode((w * self.scale, h * self.scale))
        surface = pg.surfarray.make_surface(np.ascontiguousarray(frame.swapaxes(0, 1)))
        self.screen.blit(pg.transform.scale(surface, self.screen.get_size()), (0, 0))
        pg.event.pump()
        pg.display.flip()
        self.clock.tick(self.fps)

    def close(self) -> None:
        """Close the window."""
        self.pygame.display.quit()
