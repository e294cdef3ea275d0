"""Interactive play: drive and play inside a learned world, live, with the keyboard or a gamepad.

=================  ===============================================================================
module             job
=================  ===============================================================================
``keymap``         schema key chords -> pygame keys, rebinding files, chord resolution, controls
``gamepad``        gamepad sticks, d-pad and buttons as virtual keys
``controllers``    human, policy, trained agent and replay controllers
``actionfile``     reading and validating action files
``reference``      the pane beside the learned world: the real simulator, or a recording
``recorder``       mp4 with the actions drawn, and dataset episodes
``pacing``         steady frame pacing, FPS meter
``session``        the per-frame logic (input, controls, generation, recording), no window
``hud``            HUD, help overlay, messages, loading screen
``window``         opening the window (or a clear error), drawing panes, screenshots
``app``            the window loop: loading screen with warm-up, then paced frames
``headless``       play without a display: video + JSON of timings
``config``         ``PlayConfig`` and building a session from it
=================  ===============================================================================
"""

from worldsim.play.app import PlayApp
from worldsim.play.config import PlayConfig, build_session
from worldsim.play.headless import run_headless
from worldsim.play.session import PlaySession, SessionOptions

__all__ = ["PlayApp", "PlayConfig", "PlaySession", "SessionOptions", "build_session", "run_headless"]
