"""The CPU policy: one compute thread unless told otherwise, the caller's thread count restored, no spinning."""

import numpy as np
import torch

from worldsim.runtime import THREADS_ENV, compute_threads, ort_session_options


def test_thread_count_precedence(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert compute_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert compute_threads() == 3
    monkeypatch.setenv(THREADS_ENV, "2")
    assert compute_threads() == 2
    assert compute_threads(4) == 4
    monkeypatch.setenv(THREADS_ENV, "lots")  # not a count: ignored, the next source decides
    assert compute_threads() == 3


def test_simulator_computes_with_its_threads_and_gives_the_callers_back(tiny_world, monkeypatch):
    from worldsim.sampling.simulator import Simulator
    from worldsim.starts import StartStates
    from worldsim.world_model import WorldModel

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        sim = Simulator(WorldModel.load(tiny_world / "world.safetensors"), starts=StartStates.load(
            tiny_world / "starts.safetensors"), threads=1)  # fmt: skip
        sim.reset_from_starts(seed=0)
        seen = []
        real_step = sim.sampler.step
        sim.sampler.step = lambda *a: seen.append(torch.get_num_threads()) or real_step(*a)
        out = sim.step(0)
        assert out.frames.dtype == np.uint8
        assert seen == [1]  # the model ran with the simulator's one thread
        assert torch.get_num_threads() == 2  # restored for the caller
    finally:
        torch.set_num_threads(before)


def test_onnx_runtime_sessions_never_spin():
    import onnxruntime as ort

    opts = ort_session_options(ort, 1)
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert opts.get_session_config_entry("session.inter_op.allow_spinning") == "0"
