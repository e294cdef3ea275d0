"""Start states remember where they came from, so the real simulator can be put into the very same state."""

from __future__ import annotations

import numpy as np
import pytest

from worldsim.data.collect import CollectConfig, collect
from worldsim.data.dataset import Dataset
from worldsim.errors import DatasetError
from worldsim.metrics import psnr
from worldsim.sources import make_world
from worldsim.sources.replay import open_start_world, reach_start, replay_to
from worldsim.starts import StartStates


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("starts") / "ds"
    collect(CollectConfig(world="toy", out=str(root), frames=300, frames_per_shard=300, seed=5), progress=False)
    return Dataset(root)


def test_starts_record_their_origin_and_replay_to_their_frame(toy_data, tmp_path):
    starts = StartStates.from_dataset(toy_data, count=12, frames=3, seed=0, split=None)
    starts.save(tmp_path / "s.safetensors")
    loaded = StartStates.load(tmp_path / "s.safetensors")
    assert loaded.origins is not None and (loaded.origins.seeds >= 0).all()
    assert loaded.origins.world_config == toy_data.meta["collect"]["settings"]["world_config"]
    world = open_start_world("toy", loaded, loaded.resolution)
    for i in range(len(loaded)):
        frame, why = reach_start(world, loaded, i)
        assert why is None and psnr(frame, loaded.frames[i, -1]) >= 40.0
        # The recorded actions of the window are the last ones of the replayed prefix.
        seed, actions = loaded.origin(i)
        assert list(actions[-2:]) == list(loaded.actions[i, 1:])


def test_a_replay_that_misses_its_frame_says_so(toy_data):
    starts = StartStates.from_dataset(toy_data, count=4, frames=3, seed=0, split=None)
    world = open_start_world("toy", starts, starts.resolution)
    seed, actions = starts.origin(0)
    wrong = np.full_like(starts.frames[0, -1], 255) - starts.frames[0, -1]
    frame, why = replay_to(world, seed, actions, wrong)
    assert why is not None and "does not reproduce" in why


def test_starts_without_origin_say_why(toy_data):
    starts = StartStates.from_dataset(toy_data, count=4, frames=3, seed=0, split=None)
    bare = StartStates(starts.frames, starts.actions, starts.schema)
    frame, why = reach_start(make_world("toy"), bare, 0)
    assert frame is None and "no recorded simulator seed" in why


def test_accept_filters_the_windows(toy_data):
    bright = lambda f: f.mean() > np.median([e.frames[:].mean() for e in toy_data])  # noqa: E731
    starts = StartStates.from_dataset(toy_data, count=8, frames=2, seed=0, split=None, accept=bright)
    assert all(bright(w[-1]) for w in starts.frames)
    with pytest.raises(DatasetError, match="pass the start check"):
        StartStates.from_dataset(toy_data, count=4, frames=2, seed=0, split=None, accept=lambda f: False)


def test_a_share_of_starts_can_begin_at_rest(toy_data):
    starts = StartStates.from_dataset(toy_data, count=20, frames=3, seed=0, split=None, from_rest=0.5)
    prefix = np.diff(starts.origins.offsets)
    assert 5 <= (prefix == 2).sum() <= 15  # cut at frame 0: the window's last frame is reached by 2 actions
