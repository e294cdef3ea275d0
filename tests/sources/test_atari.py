"""ALE Breakout adapter and the scripted Breakout tracker."""

import numpy as np
import pytest

pytest.importorskip("ale_py")

from worldsim.errors import InvalidAction, UnknownNameError  # noqa: E402
from worldsim.policies.base import make_policy  # noqa: E402
from worldsim.policies.breakout_tracker import BreakoutTracker  # noqa: E402
from worldsim.sources import make_world  # noqa: E402
from worldsim.sources.atari import GAMES, BreakoutWorld  # noqa: E402


@pytest.fixture(scope="module")
def world():
    w = make_world("breakout")
    yield w
    w.close()


def rollout(world, seed, actions):
    frames = [world.reset(seed=seed)]
    for a in actions:
        frames.append(world.step(a).frame)
    return np.stack(frames)


def test_frames_default_and_other_resolution(world):
    frame = world.reset(seed=0)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and frame.std() > 0
    with make_world("breakout", height=84, width=80) as w:
        assert w.reset(seed=0).shape == (84, 80, 3)
        assert w.step("fire").frame.shape == (84, 80, 3)


def test_schema_matches_the_ale_minimal_action_set(world):
    assert world.name == "breakout" and world.schema.world == "breakout"
    assert world.schema.names == ["noop", "fire", "right", "left"]
    assert [m.lower() for m in world.unwrapped.get_action_meanings()] == world.schema.names
    assert len(BreakoutWorld.explore_weights) == len(world.schema)
    assert world.fps == 15.0
    assert world.unwrapped.ale.getRAM().shape == (128,)


def test_same_seed_same_frames_across_instances(world):
    actions = [1, 2, 2, 3, 0, 3, 3, 2, 0, 1]
    a = rollout(world, 3, actions)
    with make_world("breakout") as other:
        b = rollout(other, 3, actions)
    np.testing.assert_array_equal(a, b)


def test_actions_move_the_paddle(world):
    right = rollout(world, 0, ["right"] * 4)
    paddle_right = int(world.unwrapped.ale.getRAM()[72])
    left = rollout(world, 0, ["left"] * 4)
    paddle_left = int(world.unwrapped.ale.getRAM()[72])
    assert not np.array_equal(right[-1], left[-1])
    assert paddle_left < 146 < paddle_right  # 146: paddle x at the start


def test_tracker_ram_addresses_match_the_screen(world):
    world.reset(seed=0)
    ale = world.unwrapped.ale
    for _ in range(6):
        world.step("fire")
        ram = ale.getRAM()
        screen = ale.getScreenRGB()
        # Ball: the only lit pixels between the bricks (rows 57-92) and the paddle (row 189).
        ys, xs = np.nonzero(screen[93:189, 8:152].sum(-1))
        assert len(xs), "the ball should be in play after fire"
        assert xs.min() + 8 == ram[99] - 49 and ys.min() + 93 == ram[101] + 9
        # Paddle: rows 190-193, 16 pixels wide.
        pxs = np.nonzero(screen[190:193, 8:152].sum(-1).sum(0))[0]
        assert pxs.min() + 8 == ram[72] - 47


def test_game_over_terminates():
    with make_world("breakout") as w:
        w.reset(seed=0)
        for _ in range(1000):  # fire each ball and hide in the corner: five lives go in ~270 steps
            s = w.step("fire" if w.unwrapped.ale.getRAM()[101] == 0 else "left")
            if s.terminated or s.truncated:
                break
        assert s.terminated and not s.truncated and s.info["lives"] == 0
        assert s.frame.shape == (64, 64, 3)


def test_limit_truncates():
    with make_world("breakout", max_episode_steps=4) as w:
        w.reset(seed=0)
        steps = [w.step("noop") for _ in range(4)]
        assert steps[-1].truncated and not steps[-1].terminated
        assert not any(s.truncated for s in steps[:-1])


def test_invalid_action_raises(world):
    world.reset(seed=0)
    with pytest.raises(InvalidAction, match="out of range"):
        world.step(4)
    with pytest.raises(InvalidAction):
        world.step("up")


@pytest.mark.parametrize("game", ["Breakot", "Pong"])
def test_unknown_or_incompatible_game_lists_valid_names(game):
    with pytest.raises(UnknownNameError, match="Valid choices") as e:
        make_world("breakout", game=game)
    assert all(g in str(e.value) for g in GAMES)


def test_close_is_idempotent():
    w = make_world("breakout")
    w.close()
    w.close()


def score(world, policy, seed, steps=300):
    frame = world.reset(seed=seed)
    policy.reset(world, np.random.default_rng(seed))
    total = 0.0
    for _ in range(steps):
        s = world.step(policy.act(frame))
        frame, total = s.frame, total + s.reward
        if s.terminated or s.truncated:
            break
    return total


def test_tracker_outscores_random(world):
    assert isinstance(make_policy("scripted", "breakout"), BreakoutTracker)
    tracker = sum(score(world, make_policy("scripted", "breakout"), seed) for seed in (0, 1))
    random = sum(score(world, make_policy("random", "breakout"), seed) for seed in (0, 1))
    assert tracker >= random + 8, (tracker, random)
