import pygame
import pytest

from worldsim.play.config import PlayConfig, build_session


@pytest.fixture(scope="module", autouse=True)
def display():
    """pygame's display and event queue under the dummy driver (tests/conftest.py sets SDL_VIDEODRIVER)."""
    pygame.display.init()
    pygame.font.init()
    yield
    pygame.display.quit()


@pytest.fixture
def make_session(tiny_world, tmp_path):
    """Build (and start) a session on the tiny toy world; keyword arguments go to PlayConfig."""
    made = []

    def make(start: bool = True, **kw):
        kw.setdefault("backend", "eager")
        kw.setdefault("device", "cpu")
        kw.setdefault("save_dir", str(tmp_path / "saves"))
        s = build_session(PlayConfig(world=str(tiny_world / "world.safetensors"), **kw), keyboard=kw.pop("kb", True))
        if start:
            s.start()
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def key(name: str) -> int:
    return pygame.key.key_code(name)


def press(*names: str) -> None:
    for n in names:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key(n)))


def release(*names: str) -> None:
    for n in names:
        pygame.event.post(pygame.event.Event(pygame.KEYUP, key=key(n)))


def pump(session) -> None:
    """Deliver the posted events to the session, as the window loop does."""
    for e in pygame.event.get():
        session.handle(e)
