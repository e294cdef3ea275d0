"""VizDoom adapter: frames, shared action schema, seeding, action effects and episode ends."""

import numpy as np
import pytest

pytest.importorskip("vizdoom")

from worldsim.errors import InvalidAction, UnknownNameError  # noqa: E402
from worldsim.sources import make_world  # noqa: E402
from worldsim.sources.doom import CONTROLS, SCENARIOS, DoomWorld  # noqa: E402

NAMES = [
    "noop",
    "forward",
    "backward",
    "turn_left",
    "turn_right",
    "strafe_left",
    "strafe_right",
    "attack",
    "forward_left",
    "forward_right",
]


@pytest.fixture(scope="module")
def world():
    w = make_world("doom")
    yield w
    w.close()


def rollout(world, seed, actions):
    frames = [world.reset(seed=seed)]
    for a in actions:
        frames.append(world.step(a).frame)
    return np.stack(frames)


def test_frames_default_and_other_resolution(world):
    frame = world.reset(seed=0)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert frame.std() > 0
    with make_world("doom", height=96, width=128, scenario="defend_the_center") as w:
        assert w.reset(seed=0).shape == (96, 128, 3)
        step = w.step("forward")
        assert step.frame.shape == (96, 128, 3) and step.frame.dtype == np.uint8


def test_schema_is_shared_and_bound_to_keys(world):
    assert world.name == "doom" and world.schema.world == "doom"
    assert world.schema.names == NAMES
    assert len(CONTROLS) == len(world.schema) == len(DoomWorld.explore_weights)
    assert all(a.keys for a in world.schema.actions[1:])
    assert world.fps == 17.5 and world.config.scenario == "deathmatch"
    # Every scenario is driven with the same buttons, so action ids mean the same everywhere.
    with make_world("doom", scenario="basic", frame_skip=4) as w:
        assert w.schema == world.schema
        assert w.unwrapped.get_available_buttons() == world.unwrapped.get_available_buttons()
        assert w.fps == 8.75


def test_same_seed_same_frames_across_instances(world):
    actions = [1, 1, 3, 3, 7, 7, 9, 9, 5, 0]
    a = rollout(world, 7, actions)
    with make_world("doom") as other:
        b = rollout(other, 7, actions)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, rollout(world, 8, actions)), "the seed should change the episode"


def test_episode_does_not_depend_on_the_previous_one(world):
    # ZDoom keeps the weapon's bob across new_episode; reset must let it settle.
    actions = [8, 6, 5, 2, 3, 0, 1, 8, 6, 9]
    first = rollout(world, 5, actions)
    for previous in ("forward", "forward_left", "strafe_right"):
        world.reset(seed=1)
        for _ in range(30):
            world.step(previous)
        np.testing.assert_array_equal(rollout(world, 5, actions), first, err_msg=previous)


def test_actions_take_effect_on_the_next_frame(world):
    still = rollout(world, 0, ["noop"] * 4)
    for action in ("forward", "turn_left", "turn_right", "strafe_left"):
        moved = rollout(world, 0, [action] * 4)
        # The episode start skips ZDoom's input-ignoring first tics: even the first step shows the effect.
        assert not np.array_equal(still[1], moved[1]), action
    assert not np.array_equal(rollout(world, 0, ["turn_left"] * 4)[-1], rollout(world, 0, ["turn_right"] * 4)[-1])
    # Doom's pistol shows its flash only ~6 tics after the trigger is pulled (more while it is raised).
    assert not np.array_equal(rollout(world, 0, ["noop"] * 8)[-1], rollout(world, 0, ["attack"] * 8)[-1])


def test_timeout_truncates_and_frame_stays_valid():
    with make_world("doom", max_episode_steps=5) as w:
        w.reset(seed=0)
        steps = [w.step("forward") for _ in range(5)]
        assert not any(s.terminated or s.truncated for s in steps[:-1])
        last = steps[-1]
        assert last.truncated and not last.terminated
        assert w.unwrapped.is_episode_finished(), "VizDoom's own timeout should agree with the adapter"
        assert last.frame.shape == (64, 64, 3) and last.frame.std() > 0
        again = w.step("noop")
        np.testing.assert_array_equal(again.frame, last.frame)
        assert w.reset(seed=0).shape == (64, 64, 3)


def test_death_terminates_and_repeats_last_frame():
    with make_world("doom", scenario="deadly_corridor") as w:
        w.reset(seed=0)
        for _ in range(300):  # walking into the corridor of shooters is deadly within ~25 steps
            s = w.step("forward")
            if s.terminated or s.truncated:
                break
        assert s.terminated and not s.truncated and s.info["dead"]
        assert s.frame.shape == (64, 64, 3) and s.frame.std() > 0
        after = w.step("forward")
        assert after.terminated and after.reward == 0.0
        np.testing.assert_array_equal(after.frame, s.frame)
        w.reset(seed=1)
        assert not w.step("noop").terminated


def test_invalid_action_raises(world):
    world.reset(seed=0)
    with pytest.raises(InvalidAction, match="out of range"):
        world.step(len(NAMES))
    with pytest.raises(InvalidAction):
        world.step("jump")


def test_unknown_scenario_lists_valid_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'defend_the_center'") as e:
        make_world("doom", scenario="defend_the_centre")
    assert all(name in str(e.value) for name in SCENARIOS)


def test_close_is_idempotent():
    w = make_world("doom", scenario="basic")
    w.close()
    w.close()


def test_labels_name_the_monsters_on_screen_and_leave_the_frames_alone():
    from worldsim.sources.doom import LABEL_KINDS, MAX_LABELS

    labelled, plain = make_world("doom"), make_world("doom", labels=False)
    rng = np.random.default_rng(0)
    actions = rng.choice([1, 3, 7, 8, 9], 150)
    frames, rows = [labelled.reset(seed=4)], [labelled.frame_labels()]
    for a in actions:
        frames.append(labelled.step(int(a)).frame)
        rows.append(labelled.frame_labels())
    assert np.array_equal(np.stack(frames), rollout(plain, 4, actions))  # labels do not change what is drawn
    assert plain.frame_labels() is None
    labels = np.stack(rows)
    assert labels.shape == (151, MAX_LABELS, 5)
    kinds = labels[..., 0]
    assert set(np.unique(kinds)) <= set(range(len(LABEL_KINDS)))
    assert (kinds == 1).any()  # the deathmatch map starts among monsters
    boxes = labels[kinds > 0][:, 1:]
    assert (boxes[:, 0] <= boxes[:, 2]).all() and (boxes[:, 1] <= boxes[:, 3]).all()
    assert boxes.min() >= 0 and boxes.max() <= 64
    labelled.close()
    plain.close()
