import numpy as np
import pytest
from safetensors.numpy import load_file

from worldsim.data.shards import Episode, ShardReader, write_shard
from worldsim.errors import DatasetError


def _episode(t: int, seed: int = 0) -> Episode:
    rng = np.random.default_rng(seed)
    return Episode(
        frames=rng.integers(0, 256, (t + 1, 8, 8, 3), dtype=np.uint8),
        actions=rng.integers(0, 4, t).astype(np.int16),
        rewards=rng.standard_normal(t).astype(np.float32),
        terminated=np.eye(1, t, t - 1, dtype=bool)[0],
        truncated=np.zeros(t, bool),
        seed=seed,
        policy="random",
    )


def test_round_trip_is_memory_mapped_and_exact(tmp_path):
    eps = [_episode(5, 1), _episode(9, 2)]
    path = tmp_path / "shard-000000.safetensors"
    write_shard(path, eps, {"world": "w"})
    shard = ShardReader(path)
    assert shard.num_episodes == 2 and shard.num_steps == 14
    assert isinstance(shard.arrays["frames"], np.memmap)
    for i, ep in enumerate(eps):
        got = shard.episode(i)
        for name in ("frames", "actions", "rewards", "terminated", "truncated"):
            np.testing.assert_array_equal(getattr(got, name), getattr(ep, name))
        assert got.seed == ep.seed and got.policy == "random"
    assert shard.meta("world") == "w"
    assert shard.verify_checksums() == []


def test_files_are_standard_safetensors(tmp_path):
    path = tmp_path / "shard-000000.safetensors"
    write_shard(path, [_episode(4)], {"world": "w"})
    tensors = load_file(str(path))
    assert tensors["frames"].shape == (5, 8, 8, 3)


def test_same_content_gives_same_bytes(tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    write_shard(a, [_episode(4)], {"z": 1, "a": 2})
    write_shard(b, [_episode(4)], {"a": 2, "z": 1})
    assert a.read_bytes() == b.read_bytes()


def test_truncated_file_is_detected(tmp_path):
    path = tmp_path / "shard-000000.safetensors"
    write_shard(path, [_episode(6)], {"world": "w"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(DatasetError, match=r"shard-000000.safetensors: truncated .* re-run `worldsim collect`"):
        ShardReader(path)
    path.write_bytes(data[:5])
    with pytest.raises(DatasetError, match="truncated"):
        ShardReader(path)


def test_flipped_byte_fails_checksum(tmp_path):
    path = tmp_path / "shard-000000.safetensors"
    write_shard(path, [_episode(6)], {"world": "w"})
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF  # inside the frames
    path.write_bytes(bytes(data))
    assert "frames" in ShardReader(path).verify_checksums()


def test_garbage_file_is_rejected(tmp_path):
    path = tmp_path / "shard-000000.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(DatasetError, match="corrupt header"):
        ShardReader(path)


def test_episode_needs_one_more_frame_than_actions():
    with pytest.raises(ValueError, match="needs 5 frames"):
        Episode(np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4), np.zeros(4), np.zeros(4, bool), np.zeros(4, bool))


def test_labels_round_trip_and_are_optional(tmp_path):
    def episode(labels):
        return Episode(np.zeros((3, 8, 8, 3), np.uint8), np.zeros(2, np.int16), np.zeros(2, np.float32),
                       np.zeros(2, bool), np.zeros(2, bool), seed=1, labels=labels)  # fmt: skip

    rows = np.arange(3 * 2 * 5, dtype=np.float32).reshape(3, 2, 5)
    write_shard(tmp_path / "a.safetensors", [episode(rows), episode(rows + 1)], {"world": "toy"})
    read = ShardReader(tmp_path / "a.safetensors")
    assert np.array_equal(read.episode(1).labels, rows + 1) and not read.verify_checksums()
    write_shard(tmp_path / "b.safetensors", [episode(None)], {"world": "toy"})
    assert ShardReader(tmp_path / "b.safetensors").episode(0).labels is None
    with pytest.raises(ValueError, match="label rows"):
        episode(rows[:2])
