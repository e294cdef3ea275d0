"""What ships in ``assets/``: every world loads, plays a frame, fits the size budget and has a model card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worldsim.assets import DEFAULT_WORLD, assets_dir, shipped_worlds
from worldsim.config import read_config_file, to_dict
from worldsim.sampling.config import resolve_sampling
from worldsim.sampling.simulator import Simulator
from worldsim.world_model import WorldModel

WORLDS = shipped_worlds()
MB = 2**20


def test_the_default_world_ships():
    assert DEFAULT_WORLD in WORLDS


def test_assets_fit_the_size_budget():
    files = [p for p in assets_dir().rglob("*") if p.is_file()]
    assert all(p.stat().st_size <= 40 * MB for p in files), [p.name for p in files if p.stat().st_size > 40 * MB]
    assert sum(p.stat().st_size for p in files) <= 150 * MB


@pytest.mark.parametrize("name", WORLDS)
def test_shipped_world_plays_from_its_start_states(name):
    sim = Simulator.load(name, num_streams=2, device="cpu", backend="eager", sampling={"steps": 1})
    assert sim.starts is not None and len(sim.starts.frames) >= 100
    assert sim.starts.schema.fingerprint == sim.world.schema.fingerprint
    first = sim.reset_from_starts(seed=0)
    out = sim.step([0, len(sim.world.schema) - 1])
    h, w = sim.resolution
    assert first.shape == out.frames.shape == (2, h, w, 3) and out.frames.dtype == np.uint8
    assert out.frames.std() > 1.0  # a real picture, not a flat colour
    card = assets_dir() / name / "README.md"
    assert card.is_file() and "## Evaluation" in card.read_text()


@pytest.mark.parametrize("name", WORLDS)
def test_shipped_sampling_defaults_are_the_ones_its_ship_recipe_records(name):
    # scripts/train_world.sh packages with configs/ship/NAME.yaml; a world re-tuned by hand would not regenerate.
    recipe = Path(__file__).parents[1] / "configs" / "ship" / f"{name}.yaml"
    shipped = WorldModel.load(assets_dir() / name / "world.safetensors").sampling
    recorded = resolve_sampling(shipped, read_config_file(recipe) if recipe.is_file() else {}, where=str(recipe))
    assert to_dict(shipped) == to_dict(recorded), f"{name}: the shipped recipe is not the one {recipe} records"


@pytest.mark.parametrize("name", WORLDS)
def test_a_flipped_bit_in_a_shipped_world_is_caught_at_load(name, tmp_path):
    import shutil

    from worldsim.errors import CheckpointError

    src = assets_dir() / name
    WorldModel.load(src / "world.safetensors")  # the shipped bytes match checksums.json
    for f in ("world.safetensors", "checksums.json"):
        shutil.copy(src / f, tmp_path / f)
    data = bytearray((tmp_path / "world.safetensors").read_bytes())
    data[-1000] ^= 0x40  # one exponent-ish bit deep in the tensor data
    (tmp_path / "world.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its SHA-256"):
        WorldModel.load(tmp_path / "world.safetensors")
