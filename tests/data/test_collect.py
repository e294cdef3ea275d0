import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from worldsim.data import Dataset, validate_dataset
from worldsim.data.collect import CollectConfig, collect
from worldsim.data.shards import ShardReader
from worldsim.errors import ConfigError


def _cfg(tmp_path, **kw):
    base = dict(world="toy", out=str(tmp_path / "ds"), frames=600, frames_per_shard=200, seed=7)
    return CollectConfig(**{**base, **kw})


def test_collect_writes_a_valid_dataset(tmp_path):
    result = collect(_cfg(tmp_path), progress=False)
    assert result.shards_written == 3 and result.steps_written == 600
    assert list(validate_dataset(tmp_path / "ds")) == []
    ds = Dataset(tmp_path / "ds")
    assert ds.num_steps == 600 and ds.meta["collect"]["complete"]
    assert ds.split("val") and ds.split("train")
    assert {e.policy for e in ds} <= {"scripted", "random"}
    ep = ds.episode(0)
    assert ep.frames.shape[1:] == (64, 64, 3) and len(ep.frames) == ep.num_steps + 1


def test_same_seed_same_bytes_whatever_the_worker_count(tmp_path):
    collect(_cfg(tmp_path, out=str(tmp_path / "a"), workers=1), progress=False)
    collect(_cfg(tmp_path, out=str(tmp_path / "b"), workers=2), progress=False)
    collect(_cfg(tmp_path, out=str(tmp_path / "c"), seed=8), progress=False)
    names = sorted(p.name for p in (tmp_path / "a").glob("shard-*"))
    assert names == sorted(p.name for p in (tmp_path / "b").glob("shard-*"))
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == (tmp_path / "b" / n).read_bytes()
    a0 = ShardReader(tmp_path / "a" / names[0]).arrays["frames"]
    c0 = ShardReader(tmp_path / "c" / names[0]).arrays["frames"]
    assert a0.shape != c0.shape or not np.array_equal(a0, c0)


def test_resume_makes_only_missing_shards(tmp_path):
    cfg = _cfg(tmp_path)
    collect(cfg, progress=False)
    out = tmp_path / "ds"
    kept = out / "shard-000000.safetensors"
    before = (kept.stat().st_mtime_ns, kept.read_bytes())
    reference = (out / "shard-000001.safetensors").read_bytes()
    (out / "shard-000001.safetensors").unlink()
    (out / "shard-000002.safetensors.tmp-999").write_bytes(b"partial")  # left by a killed writer
    result = collect(cfg, progress=False)
    assert result.shards_written == 1 and result.shards_skipped == 2
    assert (kept.stat().st_mtime_ns, kept.read_bytes()) == before
    assert (out / "shard-000001.safetensors").read_bytes() == reference
    assert not list(out.glob("*.tmp-*"))
    assert collect(cfg, progress=False).shards_written == 0


def test_resume_with_other_settings_is_refused(tmp_path):
    collect(_cfg(tmp_path), progress=False)
    with pytest.raises(ConfigError, match=r"other settings \(seed: 7 -> 8\).*choose a new --out"):
        collect(_cfg(tmp_path, seed=8), progress=False)


def test_unknown_policy_for_world(tmp_path):
    with pytest.raises(ConfigError, match="not available for world 'doom'"):
        collect(_cfg(tmp_path, world="doom", policy="scripted"), progress=False)


@pytest.mark.parametrize("world", ["carracing", "highway", "doom", "breakout"])
def test_small_collection_per_world(tmp_path, world):
    collect(_cfg(tmp_path, world=world, frames=60, frames_per_shard=30, policy="auto"), progress=False)
    assert list(validate_dataset(tmp_path / "ds")) == []
    ds = Dataset(tmp_path / "ds")
    assert ds.num_steps == 60 and ds.world == world
    assert int(np.asarray(ds.shards[0].arrays["frames"]).std()) > 0


def test_killed_collect_leaves_a_valid_dataset_and_resumes(tmp_path):
    out = tmp_path / "ds"
    cmd = [
        sys.executable,
        "-m",
        "worldsim",
        "collect",
        "carracing",
        "--frames",
        "400",
        "--shard-frames",
        "40",
        "--out",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(out.glob("shard-*.safetensors"))) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = len(list(out.glob("shard-*.safetensors")))
    assert 2 <= written < 10
    assert list(validate_dataset(out)) == []
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(validate_dataset(out)) == []
    assert Dataset(out).num_steps == 400


def test_counterfactual_collection_is_deterministic_resumes_and_records_its_mix(tmp_path):
    """The deviating policy (scripted driving with held deviations) collects like every policy: same seed, same
    bytes; a lost shard is remade identically; the mix is in meta.json."""
    cfg = _cfg(tmp_path, world="toy", frames=400, frames_per_shard=200, policy="deviate=0.5,scripted=0.5")
    collect(cfg, progress=False)
    out = tmp_path / "ds"
    reference = (out / "shard-000001.safetensors").read_bytes()
    (out / "shard-000001.safetensors").unlink()
    assert collect(cfg, progress=False).shards_written == 1
    assert (out / "shard-000001.safetensors").read_bytes() == reference
    ds = Dataset(out)
    assert ds.meta["collect"]["settings"]["policy"] == {"deviate": 0.5, "scripted": 0.5}
    assert {ds.episode(i).policy for i in range(len(ds))} <= {"deviate", "scripted"}


def test_deviations_are_held_actions_of_every_kind_between_scripted_driving():
    from worldsim.policies.base import make_policy
    from worldsim.sources import make_world

    world = make_world("toy")
    frame = world.reset(seed=3)
    policy = make_policy("deviate", "toy")
    policy.reset(world, np.random.default_rng(3))
    actions = [policy.act(frame) for _ in range(3000)]
    starts = [d[0] for d in policy.deviations]
    assert starts[0] >= 20 and all(b - a >= 10 + 30 for a, b in zip(starts, starts[1:], strict=False))
    assert {d[1] for d in policy.deviations} == set(range(len(world.schema)))  # every action deviates sometime
    for t, action, hold in policy.deviations:
        if t + hold <= len(actions):
            assert 10 <= hold <= 60 and set(actions[t - 1 : t - 1 + hold]) == {action}
