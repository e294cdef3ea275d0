import json
import subprocess
import sys

import numpy as np
import pytest

from worldsim.data import validate_dataset
from worldsim.data.collect import CollectConfig, collect
from worldsim.data.shards import ShardReader, write_shard


@pytest.fixture()
def dataset(tmp_path):
    out = tmp_path / "ds"
    collect(CollectConfig(world="toy", out=str(out), frames=300, frames_per_shard=100), progress=False)
    return out


def _validate_cli(path):
    return subprocess.run(
        [sys.executable, "-m", "worldsim", "data", "validate", str(path)], capture_output=True, text=True
    )


def test_valid_dataset_passes_cli(dataset):
    r = _validate_cli(dataset)
    assert r.returncode == 0 and "OK, 3 shards" in r.stdout


def test_truncated_shard_named_with_fix(dataset):
    shard = dataset / "shard-000001.safetensors"
    shard.write_bytes(shard.read_bytes()[:-1000])
    r = _validate_cli(dataset)
    assert r.returncode == 1
    assert f"{shard}: truncated" in r.stderr and "re-run `worldsim collect`" in r.stderr
    assert "Traceback" not in r.stderr


def test_corrupt_shard_fails_checksum(dataset):
    shard = dataset / "shard-000002.safetensors"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x55
    shard.write_bytes(bytes(data))
    problems = list(validate_dataset(dataset))
    assert len(problems) == 1 and "shard-000002.safetensors: checksum mismatch" in problems[0]


def test_readers_refuse_a_damaged_shard_and_validate_finds_a_missing_one(dataset):
    from worldsim.data import Dataset
    from worldsim.errors import DatasetError

    shard = dataset / "shard-000001.safetensors"
    clean = shard.read_bytes()
    data = bytearray(clean)
    data[len(data) // 2] ^= 0x55
    shard.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="shard-000001.safetensors: .* do not match their CRC32"):
        Dataset(dataset)  # what training and eval open: they never learn from or score on rot
    shard.write_bytes(clean)
    assert len(Dataset(dataset)) > 0
    shard.unlink()  # a middle shard of a complete collection gone
    problems = list(validate_dataset(dataset))
    assert len(problems) == 1 and "1 shard(s) are missing (shard-000001.safetensors)" in problems[0]


def test_unknown_action_id_detected(dataset):
    src = ShardReader(dataset / "shard-000000.safetensors")
    ep = src.episode(0)
    ep.actions = np.array(ep.actions).copy()
    ep.actions[3] = 9
    meta = {k: src.meta(k) for k in ("world", "schema_fingerprint", "shard_index", "shard_steps")}
    write_shard(dataset / "shard-000000.safetensors", [ep], meta)
    problems = list(validate_dataset(dataset))
    assert any("unknown action id 9" in p and "ids 0..4" in p for p in problems)


def test_metadata_mismatch_detected(dataset):
    meta = json.loads((dataset / "meta.json").read_text())
    meta["height"] = 32
    (dataset / "meta.json").write_text(json.dumps(meta))
    problems = list(validate_dataset(dataset))
    assert len(problems) == 3 and all("expected (N, 32, 64, 3)" in p for p in problems)


def test_missing_or_broken_meta(dataset, tmp_path):
    (dataset / "meta.json").write_text("{not json")
    problems = list(validate_dataset(dataset))
    assert len(problems) == 1 and "meta.json: not valid JSON" in problems[0]
    r = _validate_cli(tmp_path / "nowhere")
    assert r.returncode == 1 and "dataset directory not found" in r.stderr
