import numpy as np

from worldsim.eval.stability import closed_loop_stability
from worldsim.sampling.simulator import Simulator


def test_closed_loop_stability_scores_frames(tiny_world):
    sim = Simulator.load(tiny_world, num_streams=2, device="cpu")
    starts = sim.starts.frames.reshape(-1, 64, 64, 3).astype(np.float32)
    means = starts.mean(axis=(1, 2))
    real = {"frames": len(starts), "mean_low": means.min(0).tolist(), "mean_high": means.max(0).tolist()}
    real["std_low"] = 10.0
    rep = closed_loop_stability(sim, real, frames=6, progress=False)
    assert rep["streams"] == 2 and rep["frames"] == 6 and rep["nan_frames"] == 0
    assert 0.0 <= rep["in_range_fraction"] <= 1.0
    # An impossible range marks every frame out of range, and the check fails from frame 0.
    impossible = {**real, "mean_low": [300.0] * 3, "mean_high": [301.0] * 3}
    rep = closed_loop_stability(sim, impossible, frames=3, progress=False)
    assert rep["out_of_range_frames"] == 6 and not rep["passed"] and rep["first_problem_frame"]["out_of_range"] == 0
