import cv2
import numpy as np
import pygame
import pytest

from tests.play.conftest import press
from worldsim.play.app import PlayApp
from worldsim.play.pacing import Pacer
from worldsim.play.window import NoDisplayError, init_display


def test_window_loop_loading_keys_hud_help_screenshot(make_session, tmp_path):
    s = make_session(start=False)
    app = PlayApp(s, scale=2)
    surface = app.open()
    assert surface.get_size() == (128, 128)
    assert app.load()  # warm-up ran in a thread behind the loading screen
    assert s.warmup_seconds > 0 and s.expected_fps > 0 and s.frames == 0  # no frame before the loop starts
    press("up")
    for _ in range(3):
        assert app.frame()
    assert s.action_name == "up" and s.frames == 3
    with_hud = app.pixels()
    assert with_hud.shape == (128, 128, 3) and with_hud.max() > 0
    press("tab")
    app.frame()
    without_hud = app.pixels()
    press("h")
    app.frame()
    help_screen = app.pixels()
    assert not np.array_equal(with_hud[:20], without_hud[:20]) and not np.array_equal(help_screen, without_hud)
    press("f12")
    app.frame()
    shot = cv2.imread(str(app.last_screenshot))
    assert shot is not None and shot.shape == (128, 128, 3)
    press("h", "v")  # side by side: the window widens to two panes
    app.frame()
    assert pygame.display.get_surface().get_size() == (256, 128)
    press("escape")
    assert not app.frame()


def test_pacer_sleeps_only_the_time_left():
    now = [0.0]
    slept = []

    def sleep(dt):
        slept.append(round(dt, 6))
        now[0] += dt

    pacer = Pacer(25, clock=lambda: now[0], sleep=sleep)
    for work in (0.01, 0.01, 0.03, 0.01, 0.5, 0.01):
        now[0] += work
        pacer.wait()
    # 40 ms frames: sleep the rest; a 30 ms frame gets 10 ms; after a 0.5 s stall the schedule restarts (no burst)
    assert slept == [0.03, 0.01, 0.03, 0.03]


def test_no_display_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(NoDisplayError, match=r"no display available .* --headless"):
        init_display()


def test_hud_rate_comes_from_frame_intervals_even_when_frames_are_slow():
    from worldsim.play.pacing import RateMeter

    now = [0.0]
    meter = RateMeter(window=1.0, clock=lambda: now[0])
    for t in (0.0, 0.02, 0.04, 0.06):  # 50 FPS
        now[0] = t
        meter.tick()
    assert meter.rate == pytest.approx(50.0)
    for t in (2.06, 4.06):  # two 2-second frames: 0.5 FPS, not 0
        now[0] = t
        meter.tick()
    assert meter.rate == pytest.approx(0.5)
