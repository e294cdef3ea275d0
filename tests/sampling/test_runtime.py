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


def test_precision_policy(monkeypatch):
    import pytest

    from worldsim import runtime
    from worldsim.errors import UnknownNameError

    monkeypatch.setattr(runtime, "cpu_info", lambda: {"model": "x", "avx512": True, "amx_bf16": True})
    assert not runtime.generation_bf16("auto", "cpu", 1)  # one stream: fp32 is faster
    assert runtime.generation_bf16("auto", "cpu", runtime.BF16_MIN_STREAMS)
    assert not runtime.generation_bf16("auto", "cuda", 256)  # not measured on a GPU: fp32
    assert runtime.generation_bf16("bf16", "cpu", 1) and not runtime.generation_bf16("fp32", "cpu", 256)
    # AMD Zen 4 has no AMX but AVX512-BF16: bf16 batches win there too (docs/benchmarks.md).
    zen4 = {"model": "x", "avx512": True, "avx512_bf16": True, "amx_bf16": False}
    monkeypatch.setattr(runtime, "cpu_info", lambda: zen4)
    assert runtime.generation_bf16("auto", "cpu", runtime.BF16_MIN_STREAMS)
    assert not runtime.generation_bf16("auto", "cpu", 1)
    plain = {"model": "x", "avx512": False, "avx512_bf16": False, "amx_bf16": False}
    monkeypatch.setattr(runtime, "cpu_info", lambda: plain)
    assert not runtime.generation_bf16("auto", "cpu", 256)
    with pytest.raises(UnknownNameError, match="Did you mean 'bf16'"):
        runtime.generation_bf16("bf61", "cpu", 1)


def test_bf16_frames_stay_close_to_fp32(tiny_world):
    from worldsim.metrics import psnr
    from worldsim.sampling.simulator import Simulator
    from worldsim.starts import StartStates
    from worldsim.world_model import WorldModel

    world = WorldModel.load(tiny_world / "world.safetensors")
    starts = StartStates.load(tiny_world / "starts.safetensors")
    runs = []
    for precision in ("fp32", "bf16"):
        sim = Simulator(world, 2, starts=starts, precision=precision)
        sim.reset_from_starts(seed=0)
        runs.append(np.stack([sim.step([1, 3]).frames for _ in range(4)]))
    assert psnr(runs[1], runs[0]).mean() > 30  # the same rollout, to within bf16 rounding
