import numpy as np
import pygame
import pytest

from tests.play.conftest import press, pump, release


def play(session, frames: int) -> list[np.ndarray]:
    out = []
    for _ in range(frames):
        pump(session)
        session.update()
        out.append(session.frame.copy())
    return out


def test_posted_keys_change_the_action_and_the_frames(make_session):
    a, b, c = make_session(), make_session(), make_session()
    assert a.controller_name == "human" and a.frames == 0 and a.action_name == "noop"
    start = a.frame.copy()
    np.testing.assert_array_equal(start, b.frame)  # same seed, same start state
    press("up")
    pump(a)
    a.update()
    assert a.action_name == "up" and a.frames == 1
    press("down")
    pump(b)
    b.update()
    assert b.action_name == "down"
    press("up")
    pump(c)
    c.update()
    assert not np.array_equal(a.frame, b.frame)  # other key, other frame
    np.testing.assert_array_equal(a.frame, c.frame)  # same key, same frame (deterministic on CPU)
    release("up")
    pump(a)
    a.update()
    assert a.action_name == "noop"


def test_chords_taps_and_focus_loss(make_session):
    s = make_session()
    press("w", "a")
    play(s, 2)
    assert s.action_name == "left"  # the toy world has no w+a chord: the last pressed key wins
    release("a")
    play(s, 1)
    assert s.action_name == "up"
    pygame.event.post(pygame.event.Event(pygame.WINDOWFOCUSLOST))
    play(s, 1)
    assert s.action_name == "noop"  # no stuck keys after alt-tab
    press("d")
    release("d")  # tapped between two frames: still applied for one frame
    play(s, 1)
    assert s.action_name == "right"
    play(s, 1)
    assert s.action_name == "noop"


def test_pause_single_step_reset_and_steps_keys(make_session):
    s = make_session()
    play(s, 3)
    assert s.frames == 3 and s.episode_steps == 3
    press("p")
    play(s, 3)
    assert s.paused and s.frames == 3  # paused: no generation
    frozen = s.frame.copy()
    press("n")
    play(s, 2)
    assert s.frames == 4 and not np.array_equal(frozen, s.frame)  # N: exactly one frame
    press("p")
    play(s, 1)
    assert not s.paused and s.frames == 5
    first_seed = s.seed
    press("r")
    pump(s)
    assert s.seed == first_seed + 1 and s.episode_steps == 0 and s.episode_return == 0.0
    steps = s.sim.steps
    press("]", "]", "[")
    pump(s)
    assert s.sim.steps == steps + 1
    for _ in range(steps + 5):
        press("[")
    pump(s)
    assert s.sim.steps == 1  # never below one step
    assert "steps 1" in "\n".join(s.hud_lines())


def test_speculation_toggle_and_acceptance(make_session):
    s = make_session(speculative=2)
    assert s.sim.lookahead == 2
    press("up")
    play(s, 12)
    assert s.sim.acceptance_rate > 0.3  # a held key is served from the speculative buffer
    assert "accepted" in s.hud_lines()[2]
    press("l")
    pump(s)
    assert s.sim.lookahead == 0 and "speculation off" in s.hud_lines()[2]
    press("l")
    pump(s)
    assert s.sim.lookahead == 2


def test_controller_switch_policy_and_replay(make_session, tiny_world):
    s = make_session(replay=f"{tiny_world / 'ds'}:0")
    assert s.controller_name.startswith("replay:ds:0")
    replay = s.controllers.replay().replay
    np.testing.assert_array_equal(s.frame, replay.context[0][-1])  # starts from the episode's own frames
    play(s, 3)
    assert [s.sim.schema.index(s.action_name)] == replay.actions[2:3]
    press("v")
    pump(s)
    assert s.side_by_side and s.reference.label == "recording"
    play(s, 2)
    np.testing.assert_array_equal(s.reference.frame, replay.frames[1])
    assert s.view().shape[1] == 2 * s.frame.shape[1] + 1
    press("c")  # replay -> human: back to a start state
    pump(s)
    assert s.controller_name == "human"
    press("c")
    pump(s)
    assert s.controller_name == "policy:random"
    play(s, 5)
    assert s.frames == 10


def test_replay_runs_out_to_human(make_session, tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("right,3\n")
    s = make_session(replay=str(f))
    generated = [s.update() for _ in range(5)]
    assert generated == [True, True, True, False, True] and s.frames == 4
    assert s.replay_finished and s.controller_name == "human"


def test_scripted_policy_drives_the_real_simulator(make_session):
    s = make_session(policy="scripted")
    assert s.controller_name == "policy:scripted"
    assert s.side_by_side and s.reference.label.startswith("real simulator")
    real0 = s.reference.frame.copy()
    actions = []
    for _ in range(6):
        s.update()
        actions.append(s.action_name)
    assert not np.array_equal(real0, s.reference.frame) and s.frames == 6
    assert set(actions) - {"noop"}  # the seeker walks towards the coin in the real world


def test_side_by_side_real_simulator_follows_the_keys(make_session):
    s = make_session(side_by_side=True)
    assert s.reference is not None and s.reference.label.startswith("real simulator")
    before = s.reference.world.player.copy()
    press("right")
    play(s, 4)
    assert s.reference.world.player[0] > before[0]  # the real toy player moved right, as the keys said
    press("v")
    pump(s)
    assert not s.side_by_side and len(s.panes()) == 1


@pytest.mark.parametrize("spec", ["nope.zip", "scripted"])
def test_policy_errors(make_session, tiny_world, spec, monkeypatch):
    from worldsim.errors import CheckpointError, ConfigError

    if spec == "scripted":  # a world without a real simulator cannot run a privileged policy
        monkeypatch.setattr("worldsim.play.config.real_world_name", lambda schema: None)
        with pytest.raises(ConfigError, match="steers by the real simulator's state"):
            make_session(start=False, policy=spec)
    else:
        with pytest.raises(CheckpointError, match="nope.zip: agent file not found"):
            make_session(start=False, policy=spec)


class FakePad:
    """A gamepad as pygame's Joystick exposes it."""

    def __init__(self):
        self.axes, self.buttons = [0.0, 0.0], [False] * 8

    def get_numaxes(self):
        return len(self.axes)

    def get_axis(self, i):
        return self.axes[i]

    def get_numhats(self):
        return 0

    def get_numbuttons(self):
        return len(self.buttons)

    def get_button(self, i):
        return self.buttons[i]


def test_gamepad_drives_the_same_actions_and_controls(make_session):
    s = make_session()
    pad = FakePad()
    s.joysticks[0] = pad
    pad.axes[0] = -0.9  # left stick left
    s.update()
    assert s.action_name == "left"
    pad.axes[0], pad.axes[1] = 0.0, 0.8  # stick down
    s.update()
    assert s.action_name == "down"
    seed = s.seed
    pad.buttons[7] = True  # start button: reset, once per press
    s.update()
    s.update()
    assert s.seed == seed + 1
    pad.buttons[7] = False
    s.update()
    pad.buttons[7] = True
    s.update()
    assert s.seed == seed + 2
