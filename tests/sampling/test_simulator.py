import numpy as np
import pytest

from worldsim.assets import resolve_world
from worldsim.errors import CheckpointError, InvalidAction, UnknownNameError
from worldsim.sampling.simulator import Simulator
from worldsim.starts import StartStates


def test_step_shapes_and_determinism(tiny_world):
    runs = []
    for _ in range(2):
        sim = Simulator.load(tiny_world, num_streams=3, device="cpu", seed=7)
        first = sim.reset_from_starts(seed=1)
        assert first.shape == (3, 64, 64, 3) and first.dtype == np.uint8
        outs = [sim.step(a) for a in (["up", 2, "left"], 0, [1, 1, 1])]
        assert outs[0].frames.shape == (3, 64, 64, 3) and outs[0].reward.shape == (3,)
        assert ((outs[0].term_prob >= 0) & (outs[0].term_prob <= 1)).all()
        runs.append(np.stack([o.frames for o in outs]))
    assert np.array_equal(runs[0], runs[1])  # same seed, same actions: bit-identical on CPU


def test_actions_change_frames(tiny_world):
    frames = []
    for a in (1, 3):
        sim = Simulator.load(tiny_world, device="cpu", seed=0)
        sim.reset_from_starts(seed=0)
        frames.append(sim.step(a).frames)
    assert not np.array_equal(frames[0], frames[1])


def test_reset_one_stream_leaves_others(tiny_world):
    """A vector env auto-resets one stream: the others must continue exactly as if nothing happened."""
    a = Simulator.load(tiny_world, num_streams=2, device="cpu", seed=3)
    b = Simulator.load(tiny_world, num_streams=2, device="cpu", seed=3)
    for sim in (a, b):
        sim.reset_from_starts(seed=0)
        sim.step([1, 2])
    a.reset_from_starts(seed=5, streams=[0])
    b.reset_from_starts(seed=9, streams=[0])  # another start for stream 0
    fa, fb = a.step([3, 3]).frames, b.step([3, 3]).frames
    assert not np.array_equal(fa[0], fb[0])
    np.testing.assert_array_equal(fa[1], fb[1])  # stream 1 does not see what stream 0 restarted from
    c = Simulator.load(tiny_world, num_streams=2, device="cpu", seed=3)
    c.reset_from_starts(seed=0)
    c.step([1, 2])
    fresh = c.reset_from_starts(seed=5, streams=[0])
    assert np.array_equal(fresh[0], c.starts.frames[c.starts.pick(5), -1])
    n = c.starts.frames.shape[1]
    assert c.state.positions.tolist() == [n, n + 1]  # stream 0 restarted, stream 1 kept its position


def test_speculation_matches_plain(tiny_world):
    """Held actions served from the speculative buffer give the same frames as step-by-step generation would
    from the same noise: compare against step_chunk-style generation by seeding identically."""
    spec = Simulator.load(tiny_world, device="cpu", seed=11, lookahead=2)
    spec.reset_from_starts(seed=2)
    outs = [spec.step(4) for _ in range(3)]
    assert [o.accepted for o in outs] == [False, True, True]
    assert spec.acceptance_rate == pytest.approx(2 / 3)
    outs.append(spec.step(1))  # action changed: buffer discarded, generated
    assert not outs[-1].accepted


def test_warmup_leaves_no_trace(tiny_world):
    a = Simulator.load(tiny_world, device="cpu", seed=4)
    b = Simulator.load(tiny_world, device="cpu", seed=4)
    a.warmup()
    a.reset_from_starts(seed=0)
    b.reset_from_starts(seed=0)
    np.testing.assert_array_equal(a.step(2).frames, b.step(2).frames)


def test_live_settings(tiny_world):
    sim = Simulator.load(tiny_world, device="cpu")
    sim.steps = 4
    assert sim.steps == 4
    with pytest.raises(ValueError, match="lookahead must be in"):
        sim.lookahead = 99
    with pytest.raises(ValueError, match="steps must be >= 1"):
        sim.steps = 0


def test_bad_input_errors(tiny_world, tmp_path):
    sim = Simulator.load(tiny_world, num_streams=2, device="cpu")
    with pytest.raises(RuntimeError, match="reset"):
        sim.step(0)
    sim.reset_from_starts(seed=0)
    with pytest.raises(InvalidAction, match="out of range.*0=noop"):
        sim.step([0, 9])
    with pytest.raises(InvalidAction, match="Did you mean 'left'"):
        sim.step(["lefft", "up"])
    with pytest.raises(InvalidAction, match="expected 2 actions"):
        sim.step([0, 1, 2])
    with pytest.raises(CheckpointError, match="not found"):
        Simulator.load(tmp_path / "nope.safetensors")
    with pytest.raises(UnknownNameError, match="unknown world 'atlantis'"):
        resolve_world("atlantis")


def test_starts_round_trip(tiny_world, tmp_path):
    starts = StartStates.load(tiny_world / "starts.safetensors")
    assert starts.frames.shape[1:] == (4, 64, 64, 3) and len(starts) == 16
    starts.save(tmp_path / "s.safetensors")
    again = StartStates.load(tmp_path / "s.safetensors")
    assert np.array_equal(again.frames, starts.frames) and np.array_equal(again.actions, starts.actions)
    assert again.schema.fingerprint == starts.schema.fingerprint
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="bad.safetensors: corrupt"):
        StartStates.load(tmp_path / "bad.safetensors")


def test_non_finite_weights_are_refused_at_load_and_non_finite_frames_at_step(tiny_world, tmp_path):
    import pytest
    import torch

    from worldsim.errors import CheckpointError, GenerationError
    from worldsim.starts import StartStates
    from worldsim.world_model import WorldModel

    world = WorldModel.load(tiny_world / "world.safetensors")
    with torch.no_grad():
        world.dynamics.final.linear.bias[0] = float("nan")  # damaged in memory: the file itself is fine
    sim = Simulator(world, 2, starts=StartStates.load(tiny_world / "starts.safetensors"))
    sim.reset_from_starts(seed=0)
    with pytest.raises(GenerationError, match=r"NaN or infinite values in stream\(s\) \[0, 1\]"):
        sim.step(0)
    world.save(tmp_path / "nan.safetensors")  # a file written with NaN weights (its checksum is right)
    with pytest.raises(CheckpointError, match="hold NaN or infinite values"):
        WorldModel.load(tmp_path / "nan.safetensors")
