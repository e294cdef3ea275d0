import numpy as np
import pytest


@pytest.fixture(scope="module")
def breakout_data(tmp_path_factory):
    pytest.importorskip("ale_py")
    from worldsim.data.collect import CollectConfig, collect
    from worldsim.data.dataset import Dataset

    data = tmp_path_factory.mktemp("bk") / "breakout"
    collect(CollectConfig(world="breakout", out=str(data), frames=160, seed=5, policy="random"))
    ds = Dataset(data)
    latents = [np.zeros((len(sh.arrays["frames"]), 4, 8, 8), np.float32) for sh in ds.shards]
    return ds, latents


def test_empty_windows_are_exactly_those_without_a_box_before_their_last_frame(breakout_data):
    from worldsim.training.windows import empty_windows, read_window

    ds, latents = breakout_data
    eps = ds.split("val")  # the one episode of 160 frames
    empty = set(empty_windows(ds, eps, 4))
    assert empty  # the game waits for fire with no ball in play
    everything = [(e, s) for e in eps for s in range(ds.episodes[e].num_steps + 2 - 4)]
    assert len(empty) < len(everything)  # and then the ball is in play
    for e, s in everything:
        marks = read_window(ds, latents, e, s, 4, len(ds.schema))[5]
        assert ((e, s) in empty) == (not marks[:-1].any())


def test_a_share_of_each_batch_comes_from_empty_windows(breakout_data):
    from worldsim.training.windows import WindowBatcher

    ds, latents = breakout_data
    batch = WindowBatcher(ds, latents, 4, len(ds.schema), "val", empty_share=0.5).sample(np.random.default_rng(0), 8)
    before_last = batch.boxes[:, :-1].flatten(1).any(1)
    assert not before_last[:4].any()
    plain = WindowBatcher(ds, latents, 4, len(ds.schema), "val").sample(np.random.default_rng(0), 8)
    assert plain.boxes[:, :-1].flatten(1).any(1).any()  # uniform windows mostly hold the ball


def test_empty_windows_are_drawn_evenly_over_the_action_that_ends_them(breakout_data):
    from worldsim.training.windows import WindowBatcher

    ds, latents = breakout_data
    batcher = WindowBatcher(ds, latents, 4, len(ds.schema), "val", empty_share=1.0)
    last = np.array([batcher.window(e, s)[1][-1] for e, s in batcher.empty])
    counts = np.bincount(last, minlength=len(ds.schema))
    assert counts.max() > 2 * counts[counts > 0].min()  # the data end their empty windows unevenly...
    drawn = batcher.sample(np.random.default_rng(0), 800).actions[:, -1].numpy()
    share = np.bincount(drawn, minlength=len(ds.schema))[counts > 0] / len(drawn)
    assert np.allclose(share, 1 / (counts > 0).sum(), atol=0.05)  # ...the batches evenly
