"""The adapter contract, checked for every registered world."""

import numpy as np
import pytest

from worldsim.actions import ActionSchema
from worldsim.errors import InvalidAction, UnknownNameError
from worldsim.sources import WORLDS, make_world, world_class

ALL = sorted(WORLDS)


@pytest.fixture(scope="module", params=ALL)
def world(request):
    w = make_world(request.param)
    yield w
    w.close()


def test_frames_are_uint8_rgb_at_model_resolution(world):
    frame = world.reset(seed=1)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    step = world.step(0)
    assert step.frame.shape == (64, 64, 3) and step.frame.dtype == np.uint8
    assert isinstance(step.reward, float)
    assert isinstance(step.terminated, bool) and isinstance(step.truncated, bool)
    assert frame.std() > 0, "a blank first frame: the simulator did not render"


def test_schema_round_trips_and_has_noop_and_bindings(world):
    schema = world.schema
    assert ActionSchema.from_dict(schema.to_dict()) == schema
    assert schema.names[0] == "noop"
    assert schema.world == world.name
    assert all(a.keys for a in schema.actions[1:]), "every non-noop action needs a default key"


def test_same_seed_same_frames(world):
    rng = np.random.default_rng(0)
    actions = rng.integers(len(world.schema), size=12)

    def run():
        frames = [world.reset(seed=123)]
        for a in actions:
            s = world.step(int(a))
            frames.append(s.frame)
            if s.terminated or s.truncated:
                break
        return np.stack(frames)

    np.testing.assert_array_equal(run(), run())


def test_invalid_action_is_rejected(world):
    world.reset(seed=0)
    with pytest.raises(InvalidAction, match="out of range"):
        world.step(len(world.schema))
    with pytest.raises(InvalidAction):
        world.step("definitely_not_an_action")


@pytest.mark.parametrize("name", ALL)
def test_other_resolution(name):
    with make_world(name, height=48, width=40) as w:
        assert w.reset(seed=0).shape == (48, 40, 3)
        assert w.step(1).frame.shape == (48, 40, 3)


@pytest.mark.parametrize("name", ALL)
def test_episode_limit_truncates(name):
    with make_world(name, max_episode_steps=3) as w:
        w.reset(seed=0)
        flags = [w.step(0) for _ in range(3)]
        last = flags[-1]
        assert last.truncated or last.terminated
        assert not any(s.truncated for s in flags[:-1])


def test_unknown_world_lists_choices():
    with pytest.raises(UnknownNameError, match="Did you mean 'carracing'"):
        make_world("carracng")


def test_unknown_world_option_is_rejected():
    from worldsim.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown key"):
        make_world("toy", resolutoin=32)


def test_world_classes_declare_fps():
    for name in ALL:
        assert world_class(name).fps > 0
