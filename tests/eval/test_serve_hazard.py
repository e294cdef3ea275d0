import numpy as np
import pytest

from worldsim.errors import ConfigError


def test_each_frame_is_drawn_from_the_real_frames_before_it(load_script, tiny_world):
    from worldsim.sampling.simulator import Simulator

    script = load_script("serve_hazard")
    sim = Simulator.load(tiny_world / "world.safetensors", num_streams=2, device="cpu", sampling={"steps": 1}, seed=0)
    c, horizon = sim.context_frames, 3
    h, w = sim.resolution
    frames = np.stack([np.full((h, w, 3), 10 * i, np.uint8) for i in range(c + horizon)])  # frame i is all 10 * i
    actions = np.zeros(c + horizon, np.int64)
    seen = []
    reset = sim.reset

    def spy(f, a):
        seen.append(f[:, -1, 0, 0, 0].tolist())
        return reset(f, a)

    sim.reset = spy
    drawn = script.from_real_context(sim, frames, actions, 0, horizon)
    assert drawn.shape == (2, horizon, h, w, 3)
    # before drawing frame c + t the world is given the real frames up to c + t - 1, in every stream
    assert seen == [[10 * (c - 1 + t)] * 2 for t in range(horizon)]


def test_a_visible_ball_is_read_in_the_field_not_in_the_paddle_row(load_script):
    script = load_script("serve_hazard")
    frames = np.zeros((2, 64, 64, 3), np.uint8)
    frames[0, 40, 30] = (200, 0, 0)  # a ball between the bricks and the paddle
    frames[1, 57, 30] = (200, 0, 0)  # the paddle's row: not the field
    p = script.peaks(frames)
    assert p[0] >= script.VISIBLE > p[1]


def test_a_world_other_than_breakout_is_refused_in_one_line(load_script, tiny_world):
    with pytest.raises(ConfigError, match="needs a Breakout world"):
        load_script("serve_hazard").main([str(tiny_world / "world.safetensors")])
