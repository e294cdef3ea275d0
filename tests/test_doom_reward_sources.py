"""scripts/doom_reward_sources.py: which of a Doom dataset's rewards were on screen, and after a shot."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vizdoom")

from worldsim.data.collect import CollectConfig, collect  # noqa: E402
from worldsim.data.dataset import Dataset  # noqa: E402
from worldsim.data.shards import Episode, ShardReader, write_shard  # noqa: E402


def _monster(frame_labels: np.ndarray) -> None:
    frame_labels[0] = (1, 10, 10, 20, 20)  # kind 1 = Monster, a box on screen


def test_rewarded_steps_are_split_by_what_the_frames_show(tmp_path, load_script):
    script = load_script("doom_reward_sources")
    root = tmp_path / "ds"
    collect(CollectConfig(world="doom", out=str(root), frames=12, frames_per_shard=12, seed=3), progress=False)
    shard = sorted(root.glob("shard-*.safetensors"))[0]
    meta = {k: v for k, v in ShardReader(shard).metadata.items() if k not in ("format", "crc32", "episode_policies")}
    steps = 12
    actions, rewards = np.zeros(steps, np.int16), np.zeros(steps, np.float32)
    labels = np.zeros((steps + 1, 8, 5), np.float32)
    actions[1] = Dataset(str(root)).schema.names.index("attack")
    rewards[[2, 5, 11]] = (1.0, 3.0, 4.0)  # a kill 1 step after a shot, one 4 after, one 10 after
    _monster(labels[2])  # the first kill: a monster on screen before it
    _monster(labels[12])  # the last: a monster in the frame after it
    ep = Episode(frames=np.zeros((steps + 1, 64, 64, 3), np.uint8), actions=actions, rewards=rewards,
                 terminated=np.zeros(steps, bool), truncated=np.zeros(steps, bool), seed=3, labels=labels)  # fmt: skip
    write_shard(shard, [ep], meta)
    out = script.reward_sources(str(root), window=8)
    assert out["steps"] == steps and out["rewarded"] == 3 and out["values"] == {1.0: 1, 3.0: 1, 4.0: 1}
    assert out["monster_on_screen"] == 2 and out["after_a_shot"] == 2 and out["both"] == 1
    assert out["median_steps_since_a_shot"] == 4.0


def test_a_dataset_without_labels_is_refused_in_one_line(tmp_path, load_script):
    script = load_script("doom_reward_sources")
    root = tmp_path / "ds"
    no_labels = {"labels": False}
    cfg = CollectConfig(world="doom", out=str(root), frames=8, frames_per_shard=8, seed=4, world_options=no_labels)
    collect(cfg, progress=False)
    with pytest.raises(SystemExit, match="no VizDoom labels"):
        script.reward_sources(str(root))
