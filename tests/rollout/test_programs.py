import pytest

from worldsim.rollout.programs import Program, ProgramDriver, Segment
from worldsim.sources import make_world


def test_segments_hold_the_last_one_to_the_horizon():
    p = Program((Segment(action="up", frames=2), Segment(action="down", frames=3)))
    assert p.length == 5 and not p.uses_policy
    schema = make_world("toy").schema
    assert p.fixed_actions(8, schema).tolist() == [1, 1, 2, 2, 2, 2, 2, 2]
    assert p.fixed_actions(3, schema).tolist() == [1, 1, 2]
    assert p.describe() == "up x2, down x3"


def test_invalid_programs():
    with pytest.raises(ValueError, match="exactly one"):
        Segment(action="up", policy="random")
    with pytest.raises(ValueError, match=">= 1"):
        Segment(action="up", frames=-1)
    with pytest.raises(ValueError, match="only the last"):
        Program((Segment(action="up"), Segment(action="down", frames=2)))


def test_policy_driver_is_deterministic_and_records_actions():
    program = Program((Segment(action="right", frames=2), Segment(policy="random", params={"max_hold": 3})))
    runs = []
    for _ in range(2):
        world = make_world("toy")
        frame = world.reset(seed=0)
        driver = ProgramDriver(program, 12, world.schema, world, [5, 1])
        for _ in range(12):
            frame = world.step(driver.act(frame)).frame
        runs.append(driver.actions)
    assert runs[0] == runs[1] and runs[0][:2] == [4, 4] and len(runs[0]) == 12
    assert len(set(runs[0][2:])) > 1  # the random policy really chose


def test_policy_holds_its_action_after_the_episode_ended():
    world = make_world("toy")
    frame = world.reset(seed=0)
    driver = ProgramDriver(Program((Segment(policy="scripted"),)), 4, world.schema, world, [0])
    first = driver.act(frame)
    assert driver.act(None) == first and driver.actions == [first, first]
    with pytest.raises(ValueError, match="needs the real world"):
        ProgramDriver(Program((Segment(policy="scripted"),)), 4, world.schema, None, [0])
