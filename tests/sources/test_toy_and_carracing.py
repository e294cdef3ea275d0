import numpy as np

from worldsim.sources import make_world


def test_toy_actions_move_the_player():
    w = make_world("toy", hazard_speed=0.0)
    w.reset(seed=3)
    start = w.player.copy()
    for _ in range(3):
        w.step("right")
    assert w.player[0] > start[0] and w.player[1] == start[1]
    for _ in range(3):
        w.step("up")
    assert w.player[1] < start[1] or start[1] == 0


def test_toy_reward_and_termination():
    w = make_world("toy", hazard_speed=0.0)
    w.reset(seed=0)
    w.coin = w.player.copy()
    assert w.step("noop").reward == 1.0
    w.hazard = w.player.copy()
    s = w.step("noop")
    assert s.terminated and s.reward == -1.0


def test_pygame_is_pygame_ce_and_carracing_renders():
    # Regression guard: pygame and pygame-ce both install `pygame`; highway-env/vizdoom need the CE build.
    import pygame

    assert getattr(pygame, "IS_CE", False), "plain pygame clobbered pygame-ce; reinstall with: pip install -e ."
    from gymnasium.envs.box2d.car_racing import CarRacing

    env = CarRacing(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    env.close()
    assert frame.shape == (400, 600, 3) and frame.std() > 0


def test_carracing_gas_makes_the_car_move():
    w = make_world("carracing")
    w.reset(seed=0)
    car = w.unwrapped.car.hull
    start = np.array(car.position)
    for _ in range(20):
        w.step("gas")
    assert np.linalg.norm(np.array(car.position) - start) > 1.0
    w.close()
    w.close()  # idempotent
