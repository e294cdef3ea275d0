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
    # Files written since the CRC-32 came in fail on it; older ones on their SHA-256 in checksums.json.
    with pytest.raises(CheckpointError, match="does not match its (SHA-256|checksum)"):
        WorldModel.load(tmp_path / "world.safetensors")


@pytest.mark.parametrize("name", WORLDS)
def test_side_by_side_starts_both_panes_from_the_same_frame(name, tmp_path):
    """``V`` puts the real simulator into the learned world's start state: the first frames of both panes match."""
    import pygame

    from worldsim.metrics import psnr
    from worldsim.play.config import PlayConfig, build_session

    pytest.importorskip({"doom": "vizdoom", "breakout": "ale_py"}.get(name, "numpy"))
    pygame.display.init()
    s = build_session(
        PlayConfig(world=name, side_by_side=True, backend="eager", device="cpu", save_dir=str(tmp_path)),
        keyboard=False,
    )
    try:
        assert s.sim.starts.origins is not None and (s.sim.starts.origins.seeds >= 0).all()
        for seed in (0, 1):  # the default start, then the one `R` moves to
            s.new_episode(seed)
            assert s.reference.label == "real simulator (same start)"
            assert psnr(s.frame, s.reference.frame) >= 40.0
        s.step(s.sim.schema.index("noop"))  # then both run on under the same action
    finally:
        s.close()
        pygame.display.quit()


def test_every_shipped_carracing_start_has_the_car_on_the_road_with_road_ahead():
    from worldsim.probes.carracing import road_ahead, road_under_car
    from worldsim.starts import StartStates

    starts = StartStates.load(assets_dir() / "carracing" / "starts.safetensors")
    last = starts.frames[:, -1]
    assert (road_under_car(last) >= 0.3).all() and (road_ahead(last) >= 0.2).all()
    default = last[starts.pick(0)]  # what `worldsim play` and `make demo` open on
    assert road_under_car(default) >= 0.5 and road_ahead(default) >= 0.3


def test_the_demo_drive_stays_on_the_road(tmp_path):
    """`make demo` without a display: the pilot drives 300 frames of the shipped CarRacing world from the default
    start (the same session `worldsim play --headless --policy pilot` builds)."""
    from worldsim.play.config import PlayConfig, build_session
    from worldsim.probes.carracing import on_road

    s = build_session(
        PlayConfig(world="carracing", headless=True, policy="pilot", frames=300, save_dir=str(tmp_path)),
        keyboard=False,
    )
    try:
        s.new_episode(0)
        frames = [s.frame]
        for _ in range(300):
            assert s.update()
            frames.append(s.frame)
    finally:
        s.close()
    assert s.controller_name == "policy:pilot"
    assert on_road(np.stack(frames)).mean() >= 0.9


def test_a_step_count_the_card_calls_unsafe_for_long_play_is_warned_about(caplog):
    from worldsim.assets import long_play_verdicts, resolve_world

    for name in WORLDS:
        card = resolve_world(name).card
        verdicts = long_play_verdicts(card)
        assert set(verdicts) >= {1, 2, 4}, f"{name}: the card has no 10,000-frame check per step count"
        if not any(verdicts.values()):  # allowed only when the card says so to its readers (highway)
            assert "hold 10,000 frames: none" in card.with_name("README.md").read_text()
    unsafe = [(n, k) for n in WORLDS for k, ok in long_play_verdicts(resolve_world(n).card).items() if not ok]
    if not unsafe:
        pytest.skip("every shipped world holds at every step count")
    name, steps = unsafe[0]
    with caplog.at_level("WARNING", logger="worldsim.sampling.simulator"):
        sim = Simulator.load(name, device="cpu", backend="eager", sampling={"steps": steps})
    assert sim.long_play_warning() is not None and "drifts" in caplog.text
    safe = [k for k, ok in sim.long_play.items() if ok]
    if safe:
        sim.steps = max(safe)
        assert sim.long_play_warning() is None
