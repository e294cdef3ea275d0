"""The play loop's logic, one frame at a time: input -> controller -> learned world (and reference) -> record.

:class:`PlaySession` knows nothing about windows. It takes pygame events (keys, gamepads, focus), keeps the
held keys, runs the player controls, and on :meth:`~PlaySession.update` generates the next frame through
the :class:`~worldsim.sampling.simulator.Simulator`. The window (:mod:`worldsim.play.app`) draws what it exposes and
headless play (:mod:`worldsim.play.headless`) drives it without a display; tests drive it by posting events.

Input never blocks generation: events are drained without waiting, a key tapped between two frames still
counts for one frame, and losing the window focus releases every key (no stuck keys).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pygame

from worldsim.errors import Error
from worldsim.play.controllers import ControlInput, ControllerSet, ReplayController
from worldsim.play.gamepad import GamepadState, virtual_keys
from worldsim.play.keymap import KeyMap, key_code
from worldsim.play.pacing import RateMeter
from worldsim.play.recorder import Recorder
from worldsim.play.reference import RealReference, RecordingReference
from worldsim.sampling.simulator import Simulator

log = logging.getLogger(__name__)

MAX_STEPS = 64


@dataclass(frozen=True)
class SessionOptions:
    """Settings of a play session.

    Attributes:
        seed: Seed of the first start state and of the sampling noise (``R`` moves to the next seed).
        speculative: Lookahead used when speculation is on (``L`` toggles between 0 and this).
        speculate: Start with speculation on.
        fps: Target frame rate (the video and datasets are stamped with it).
        side_by_side: Start with the reference pane shown.
        real_world: Registered name of the real simulator, if the world has one.
        save_dir: Where screenshots and recordings go.
        record_scale: Upscaling of recorded videos.
        context: Real frames a reset uses (the start states' length, so every reset has one shape).
    """

    seed: int = 0
    speculative: int = 2
    speculate: bool = False
    fps: float = 30.0
    side_by_side: bool = False
    real_world: str | None = None
    save_dir: str = "worldsim-play"
    record_scale: int = 4
    context: int = 4


class PlaySession:
    """One player in one learned world.

    Args:
        sim: A one-stream simulator.
        keymap: Key bindings (None: no keyboard, e.g. headless).
        controllers: The controllers to switch between (human first).
        options: Session settings.
    """

    def __init__(
        self,
        sim: Simulator,
        keymap: KeyMap | None,
        controllers: ControllerSet | None = None,
        options: SessionOptions | None = None,
    ) -> None:
        self.sim, self.keymap = sim, keymap
        self.controllers = controllers or ControllerSet()
        self.opt = options or SessionOptions()
        self.seed = self.opt.seed
        self.held: dict[int, int] = {}  # key code -> press order
        self.tapped: dict[int, int] = {}  # pressed since the last frame, maybe released already
        self._order = 0
        self.joysticks: dict[int, Any] = {}
        self._pad_keys: set[int] = set()
        self.running = True
        self.paused = False
        self._step_once = False
        self.show_help = False
        self.show_hud = True
        self.side_by_side = self.opt.side_by_side
        self.screenshot_requested = False
        self.reference: RealReference | RecordingReference | None = None
        self._real: RealReference | None = None
        self.recorder: Recorder | None = None
        self.frame: np.ndarray | None = None
        self.action = 0
        self.human_action = 0
        self.frames = 0
        self.episode_steps = 0
        self.episode_return = 0.0
        self.reward = 0.0
        self.term_prob = 0.0
        self.model_ms = self.decode_ms = 0.0
        self.accepted = False
        self.replay_finished = False
        self.rate = RateMeter()
        self.message, self._message_until = "", 0.0
        self.expected_fps = 0.0
        self.warmup_seconds = 0.0

    # ----------------------------------------------------------------------------------------------- start

    def start(self, progress: Any = None) -> None:
        """Warm up every shape the session can use, measure the speed, then reset to the first start state.

        Runs before the first frame (behind the loading screen), so the first key press does not stall on
        compilation or export. Only the shapes of the lookahead the session starts with are built: a cold start
        is what a new player waits through, and the other lookahead's programs are built (once, then cached on
        disk) the first time speculation is toggled.

        Args:
            progress: Called with a short text per stage (the loading screen shows it).
        """
        say = progress or (lambda text: None)
        t0 = time.perf_counter()
        wanted = min(self.opt.speculative if self.opt.speculate else 0, self._max_lookahead())
        say(f"warming up ({self.sim.backend.name} backend, lookahead {wanted})")
        self.sim.lookahead = wanted
        self.sim.warmup()
        say("measuring speed")
        self.new_episode(self.seed)
        self.expected_fps = self._measure(8)
        self.warmup_seconds = time.perf_counter() - t0
        if self.sim.world.device.type == "cpu":
            log.info(
                "no GPU in use: running on the CPU (%s backend, %d thread%s); expect about %.0f FPS at %d denoising "
                "steps (measured during warm-up%s)",
                self.sim.backend.name,
                self.sim.threads,
                "" if self.sim.threads == 1 else "s",
                self.expected_fps,
                self.sim.steps,
                "; --steps 1 is faster" if self.sim.steps > 1 else "",
            )
        else:
            log.info(
                "warm-up done in %.1f s; about %.0f FPS on %s",
                self.warmup_seconds,
                self.expected_fps,
                self.sim.world.device,
            )
        say("ready")
        self.new_episode(self.seed)

    def _measure(self, n: int) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            self.sim.step(i % len(self.sim.schema))
        return n / max(time.perf_counter() - t0, 1e-9)

    def _max_lookahead(self) -> int:
        return self.sim.world.dynamics.cfg.max_lookahead

    # ------------------------------------------------------------------------------------------ episodes

    def new_episode(self, seed: int | None = None) -> None:
        """Reset the learned world (and the reference) to a start state; a replay restarts from its context."""
        if seed is not None:
            self.seed = seed
        self.sim.seed(self.seed)
        replay = self._active_replay()
        if replay is not None and replay.replay.context is not None:
            frames, actions = replay.replay.context
            self.frame = self.sim.reset(frames[None], actions[None])[0]
        else:
            self.frame = self.sim.reset_from_starts(self.seed)[0]
        self.episode_steps, self.episode_return, self.reward, self.term_prob = 0, 0.0, 0.0, 0.0
        self.replay_finished = False
        self._update_reference(reset=True)
        inp = self._input()
        for c in self.controllers.controllers:
            c.reset(inp, self.seed)
        if self._real is not None:
            for c in self.controllers.controllers:
                c.real_reset(self._real.world, self._real.seed)
        if self.recorder is not None:
            self.recorder.begin(self.frame, self._real.frame if self._real is not None else None)

    def _active_replay(self) -> ReplayController | None:
        c = self.controllers.active
        return c if isinstance(c, ReplayController) else None

    # ------------------------------------------------------------------------------------------- input

    def handle(self, event: pygame.event.Event) -> None:
        """Take one pygame event (keys, gamepad hot-plug, focus, quit)."""
        if event.type == pygame.QUIT:
            self.running = False
        elif event.type == pygame.KEYDOWN:
            control = self.keymap.control_for(event.key) if self.keymap else None
            if control is not None:
                self.control(control)
            else:
                self._order += 1
                self.held[event.key] = self.tapped[event.key] = self._order
        elif event.type == pygame.KEYUP:
            self.held.pop(event.key, None)
        elif event.type in (pygame.WINDOWFOCUSLOST, pygame.WINDOWHIDDEN):
            self.held.clear()
        elif event.type == pygame.JOYDEVICEADDED:
            js = pygame.joystick.Joystick(event.device_index)
            self.joysticks[js.get_instance_id()] = js
            self.notify(f"gamepad connected: {js.get_name()}")
        elif event.type == pygame.JOYDEVICEREMOVED:
            self.joysticks.pop(event.instance_id, None)
            self.notify("gamepad disconnected")

    def _gamepad_keys(self) -> set[int]:
        if not self.joysticks or self.keymap is None:
            return set()
        names = set()
        for js in self.joysticks.values():
            names |= virtual_keys(GamepadState.read(js), self.keymap.gamepad)
        codes = {key_code(n) for n in names}
        pressed, self._pad_keys = codes - self._pad_keys, codes
        for code in pressed:  # a gamepad button bound to a control key triggers it once per press
            control = self.keymap.control_for(code)
            if control is not None:
                self.control(control)
        return {c for c in codes if self.keymap.control_for(c) is None}

    def _resolve_keys(self) -> int:
        if self.keymap is None:
            return 0
        held = {k: 0 for k in self._gamepad_keys()}
        held.update(self.tapped)
        held.update(self.held)
        self.tapped = {}
        return self.keymap.resolve(held)

    # ---------------------------------------------------------------------------------------- controls

    def control(self, name: str) -> None:
        """Run a player control by name (see :data:`~worldsim.play.keymap.DEFAULT_CONTROLS`)."""
        getattr(self, f"_control_{name}")()

    def _control_quit(self) -> None:
        self.running = False

    def _control_help(self) -> None:
        self.show_help = not self.show_help

    def _control_hud(self) -> None:
        self.show_hud = not self.show_hud

    def _control_reset(self) -> None:
        self.new_episode(self.seed + 1)
        self.notify(f"new start state (seed {self.seed})")

    def _control_pause(self) -> None:
        self.paused = not self.paused
        self.notify("paused: N steps one frame" if self.paused else "resumed")

    def _control_step(self) -> None:
        if self.paused:
            self._step_once = True

    def _control_steps_down(self) -> None:
        self.set_steps(self.sim.steps - 1)

    def _control_steps_up(self) -> None:
        self.set_steps(self.sim.steps + 1)

    def _control_speculation(self) -> None:
        self.set_speculation(self.sim.lookahead == 0)

    def _control_controller(self) -> None:
        was_replay = self._active_replay() is not None
        c = self.controllers.cycle()
        self.notify(f"controller: {c.name}")
        if isinstance(c, ReplayController) or was_replay:
            self.new_episode(self.seed)  # a replay starts from its own context; leaving it, from a start state
        if c.needs_real and not self.side_by_side:
            self.toggle_side_by_side()  # the policy drives the real simulator: show it

    def _control_side_by_side(self) -> None:
        self.toggle_side_by_side()

    def _control_screenshot(self) -> None:
        self.screenshot_requested = True

    def _control_record(self) -> None:
        if self.recorder is None:
            self.start_recording(self.opt.save_dir)
        else:
            self.stop_recording()

    def set_steps(self, steps: int) -> None:
        """Change the denoising steps per frame (live)."""
        self.sim.steps = min(max(1, int(steps)), MAX_STEPS)
        unsafe = self.sim.long_play_warning()
        text = f"denoising steps: {self.sim.steps}"
        self.notify(f"{text} (drifts in long play: see the model card)" if unsafe else text, 4.0 if unsafe else 2.5)

    def set_speculation(self, on: bool) -> None:
        """Turn speculative rollouts on (with the session's lookahead) or off."""
        la = min(self.opt.speculative, self._max_lookahead()) if on else 0
        self.sim.lookahead = la
        self.notify(f"speculation: lookahead {la}" if la else "speculation: off")

    def toggle_side_by_side(self) -> None:
        """Show or hide the reference pane (the real simulator, or the recording of a replayed episode)."""
        self.side_by_side = not self.side_by_side
        if self.side_by_side and self._reference_source() is None:
            self.side_by_side = False
            self.notify(f"world {self.sim.name!r} has no real simulator to show beside it")
            return
        self._update_reference(reset=True)
        if self.side_by_side and self.reference is not None:
            self.notify(f"side by side: {self.reference.label}")

    def _reference_source(self) -> str | None:
        replay = self._active_replay()
        if replay is not None and replay.replay.frames is not None:
            return "recording"
        return "real" if self.opt.real_world else None

    def _update_reference(self, reset: bool) -> None:
        """Pick the reference pane for the current controller and (re)start it with the episode."""
        needs_real = self.controllers.active.needs_real
        source = self._reference_source() if (self.side_by_side or needs_real) else None
        if needs_real and self.opt.real_world is None:
            source = None
        if source == "recording" and self.side_by_side:
            replay = self._active_replay()
            self.reference = RecordingReference(replay.replay.frames, self.frame)
        elif source is not None:
            fresh = self._real is None
            if fresh:
                try:
                    self._real = RealReference(self.opt.real_world, self.sim.resolution, self.seed, self.sim.starts)
                except Error as e:
                    self.notify(f"real simulator unavailable: {e}")
                    self.side_by_side = False
                    self.reference = None
                    return
            if fresh or reset:
                self._start_real()
                for c in self.controllers.controllers:
                    c.real_reset(self._real.world, self._real.seed)
            self.reference = self._real
        else:
            self.reference = None

    def _start_real(self) -> None:
        """Put the real simulator into the learned world's start state, or (when it cannot) its own reset."""
        assert self._real is not None
        replay = self._active_replay()
        if (replay is not None and replay.replay.context is not None) or self.sim.starts is None:
            self._real.reset(self.seed)
            return
        why = self._real.reset_to_start(self.sim.starts.pick(self.seed), self.seed)
        if why is not None:
            self.notify(f"real pane starts from its own reset: {why}", seconds=4.0)

    def notify(self, text: str, seconds: float = 2.5) -> None:
        """Show a short message on screen (and in the log)."""
        self.message, self._message_until = text, time.perf_counter() + seconds
        log.info("%s", text)

    @property
    def current_message(self) -> str:
        """The message to show now, if any."""
        return self.message if time.perf_counter() < self._message_until else ""

    # ------------------------------------------------------------------------------------------- frame

    def _input(self) -> ControlInput:
        real = self._real if self._real is not None and self.reference is self._real else None
        return ControlInput(
            self.frame,
            self.human_action,
            real.frame if real is not None else None,
            real.world if real is not None else None,
        )

    def update(self) -> bool:
        """Advance one frame unless paused; returns whether a new frame was generated."""
        self.human_action = self._resolve_keys()
        if self.paused and not self._step_once:
            return False
        self._step_once = False
        action = self.controllers.active.act(self._input())
        if action is None:
            self.replay_finished = True
            self.notify("replay finished: back to human control")
            self.controllers.select("human")
            return False
        self.step(action)
        return True

    def step(self, action: int) -> None:
        """Generate the next frame under ``action`` (and step the reference and the recording)."""
        out = self.sim.step(int(action))
        self.action = int(action)
        self.frame = out.frames[0]
        self.reward, self.term_prob = float(out.reward[0]), float(out.term_prob[0])
        self.model_ms, self.decode_ms, self.accepted = out.model_ms, out.decode_ms, out.accepted
        self.frames += 1
        self.episode_steps += 1
        self.episode_return += self.reward
        self.rate.tick()
        ref = self.reference.step(self.action) if self.reference is not None else None
        if ref is not None and ref.done and self.reference is self._real:
            for c in self.controllers.controllers:
                c.real_reset(self._real.world, self._real.seed)
        if self.recorder is not None:
            real = None
            if ref is not None and self.reference is self._real:
                real = (ref.frame, ref.reward, ref.terminated)
            self.recorder.add(
                self.action, self.frame, self.reward, self.terminated, self.view(), self.video_lines(), real
            )
            if ref is not None and ref.done and self.reference is self._real:
                self.recorder.real_restarted(self._real.frame)

    @property
    def video_fps(self) -> float:
        """Frame rate stamped on videos and datasets: the target, or the world's when unpaced."""
        return self.opt.fps or self.sim.world.fps

    @property
    def terminated(self) -> bool:
        """The model predicts the episode has ended."""
        return self.term_prob > 0.5

    @property
    def action_name(self) -> str:
        """Name of the last applied action."""
        return self.sim.schema.names[self.action]

    @property
    def controller_name(self) -> str:
        """Name of the active controller."""
        return self.controllers.active.name

    def view(self) -> np.ndarray:
        """What the window shows, at model resolution: the generated frame, and the reference beside it."""
        if self.reference is None or not self.side_by_side:
            return self.frame
        gap = np.full((self.frame.shape[0], 1, 3), 40, np.uint8)
        return np.concatenate([self.frame, gap, self.reference.frame], axis=1)

    def panes(self) -> list[tuple[np.ndarray, str]]:
        """``(frame, label)`` of each pane to draw."""
        panes = [(self.frame, f"learned world: {self.sim.name}")]
        if self.reference is not None and self.side_by_side:
            panes.append((self.reference.frame, self.reference.label))
        return panes

    def video_lines(self) -> list[str]:
        """The text drawn on recorded video frames."""
        end = "  END" if self.terminated else ""
        return [
            f"{self.episode_steps:5d} {self.action_name} [{self.controller_name}]",
            f"r {self.reward:+.2f} return {self.episode_return:+.1f}{end}",
        ]

    def hud_lines(self) -> list[str]:
        """The HUD text."""
        la = self.sim.lookahead
        spec = (
            f"speculation lookahead {la}, {100 * self.sim.acceptance_rate:.0f}% accepted" if la else "speculation off"
        )
        state = "  PAUSED" if self.paused else ""
        rec = f"  REC {self.recorder.steps} frames" if self.recorder is not None else ""
        end = (
            f"ENDED (p={self.term_prob:.2f}, R to restart)" if self.terminated else f"running (p={self.term_prob:.2f})"
        )
        where = f"{self.sim.backend.name}/{self.sim.world.device.type}"
        timing = f"model {self.model_ms:5.1f} ms  decode {self.decode_ms:4.1f} ms"
        return [
            f"{self.sim.name}  {where}  frame {self.episode_steps}{state}{rec}",
            f"FPS {self.rate.rate:5.1f} ({f'target {self.opt.fps:g}' if self.opt.fps else 'unpaced'})  {timing}",
            f"steps {self.sim.steps}  {spec}",
            f"action {self.action_name}  [{self.controller_name}]",
            f"reward {self.reward:+.2f}  return {self.episode_return:+.2f}  {end}",
        ]

    # --------------------------------------------------------------------------------------- recording

    def start_recording(self, root: str | Path) -> None:
        """Record from now on into ``root`` (mp4 + dataset episodes)."""
        real = self._real is not None and self.reference is self._real
        self.recorder = Recorder(
            root,
            self.sim.schema,
            self.sim.resolution,
            self.video_fps,
            real=real,
            scale=self.opt.record_scale,
            info={"world_model": self.sim.name},
        )
        self.recorder.begin(self.frame, self._real.frame if real else None)
        self.notify(f"recording into {root}")

    def stop_recording(self) -> dict[str, Path | None]:
        """Finish the recording; returns the written files."""
        if self.recorder is None:
            return {}
        files = self.recorder.close()
        self.recorder = None
        self.notify(f"recording saved: {files.get('video')}")
        return files

    def close(self) -> None:
        """Finish a recording in progress and release the real simulator."""
        self.stop_recording()
        if self._real is not None:
            self._real.close()
            self._real = None
