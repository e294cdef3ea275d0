"""Pixel hold (conditional replenishment) and the Display every decode path shares."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from worldsim.sampling.config import HoldConfig
from worldsim.sampling.display import Display, PixelHold, hold_pixels

LEVEL = 2.0 / 255.0  # one grey level in model units


def test_hold_keeps_small_changes_and_redraws_large_ones_exactly():
    shown = torch.zeros(1, 3, 2, 2)
    reference = torch.zeros(1, 3, 2, 2)
    decoded = torch.zeros(1, 3, 2, 2)
    decoded[0, 1, 0, 0] = 9 * LEVEL  # below a 10-level threshold in its largest channel
    decoded[0, 2, 1, 1] = 11 * LEVEL  # above it
    thresholds = HoldConfig(threshold=10).thresholds(2, 2)
    out, ref = hold_pixels(decoded, shown, reference, thresholds)
    assert torch.equal(out[0, :, 0, 0], shown[0, :, 0, 0])
    assert torch.equal(out[0, :, 1, 1], decoded[0, :, 1, 1])
    assert torch.equal(ref[0, :, 1, 1], decoded[0, :, 1, 1]) and torch.equal(ref[0, :, 0, 0], reference[0, :, 0, 0])


def test_slow_changes_accumulate_instead_of_freezing():
    thresholds = HoldConfig(threshold=10).thresholds(1, 1)
    shown = reference = torch.zeros(1, 3, 1, 1)
    values = []
    for step in range(1, 5):  # the decoding creeps up 6 levels a frame: each step alone is below 10
        shown, reference = hold_pixels(torch.full((1, 3, 1, 1), 6 * step * LEVEL), shown, reference, thresholds)
        values.append(round(float(shown[0, 0, 0, 0]) / LEVEL))
    assert values == [0, 12, 12, 24]


def test_still_frames_hold_a_sliver_of_change_but_not_motion_and_never_the_region():
    hold = HoldConfig(threshold=10, region=(0.75, 1.0, 0.0, 1.0), region_threshold=1, still=0.25)
    thresholds, field = hold.thresholds(4, 4), hold.field(4, 4)
    assert int(field.sum()) == 12  # the bottom row is the region
    zeros = torch.zeros(1, 3, 4, 4)
    creep = zeros.clone()
    creep[0, 0, 0, :2] = 20 * LEVEL  # 2 of 12 field pixels moved: below a quarter
    creep[0, 0, 3, 0] = 20 * LEVEL  # the region is redrawn on its own threshold regardless
    out, ref = hold_pixels(creep, zeros, zeros, thresholds, hold.still, field)
    assert torch.equal(out[0, :, :3], zeros[0, :, :3]) and torch.equal(ref[0, :, :3], zeros[0, :, :3])
    assert out[0, 0, 3, 0] == creep[0, 0, 3, 0]
    motion = creep.clone()
    motion[0, 0, 1, :] = 20 * LEVEL  # 6 of 12: the whole change is drawn
    both = torch.cat([creep, motion])
    out, _ = hold_pixels(both, torch.zeros_like(both), torch.zeros_like(both), thresholds, hold.still, field)
    assert torch.equal(out[1], motion[0]) and torch.equal(out[0, :, :3], zeros[0, :, :3])  # decided per stream
    with pytest.raises(ValueError, match="still"):
        HoldConfig(threshold=1, still=1.0)


def test_a_still_frame_can_hold_the_region_too_unless_enough_of_it_changed():
    hold = HoldConfig(threshold=10, region=(0.75, 1.0, 0.0, 1.0), region_threshold=1, still=0.25, still_region=0.5)
    pixel_hold = PixelHold(hold, 4, 4)
    zeros = torch.zeros(1, 3, 4, 4)
    flicker = zeros.clone()
    flicker[0, 0, 3, 0] = 20 * LEVEL  # 1 of 4 region pixels in a still frame: held
    bars = zeros.clone()
    bars[0, 0, 3, :2] = 20 * LEVEL  # 2 of 4: redrawn, though the picture above is still
    moving = flicker.clone()
    moving[0, 0, 1, :] = 20 * LEVEL  # the picture moves: the region is back on its own threshold
    frames = torch.cat([flicker, bars, moving])
    out, ref = pixel_hold(frames, torch.zeros_like(frames), torch.zeros_like(frames))
    assert torch.equal(out[0], zeros[0]) and torch.equal(ref[0], zeros[0])
    assert torch.equal(out[1], bars[0]) and torch.equal(out[2], moving[0])
    with pytest.raises(ValueError, match="still_region"):
        HoldConfig(threshold=1, still_region=0.1)  # needs still


def test_snap_restores_the_start_frame_where_a_redrawn_pixel_is_close_to_it():
    background = torch.zeros(1, 3, 1, 3)
    background[0, :, 0, 2] = 0.5
    shown = reference = torch.full((1, 3, 1, 3), 0.8)  # a sprite covered all three pixels
    decoded = torch.zeros(1, 3, 1, 3)
    decoded[0, 0, 0, 0] = 3 * LEVEL  # the sprite left: the decoder's background is 3 levels off
    decoded[0, 0, 0, 1] = 0.3  # something else is drawn here: far from the background
    decoded[0, :, 0, 2] = 0.8 + 2 * LEVEL  # the sprite stays (held; snap only touches redrawn pixels)
    hold = PixelHold(HoldConfig(threshold=10, snap=5), 1, 3)
    out, ref = hold(decoded, shown, reference, background)
    assert torch.equal(out[0, :, 0, 0], background[0, :, 0, 0])  # exactly the real background
    assert torch.equal(out[0, :, 0, 1], decoded[0, :, 0, 1]) and torch.equal(out[0, :, 0, 2], shown[0, :, 0, 2])
    assert torch.equal(ref[0, :, 0, 0], decoded[0, :, 0, 0])  # the reference is still the decoding
    assert torch.equal(hold(decoded, shown, reference)[0], hold_pixels(decoded, shown, reference, hold.thresholds)[0])
    with pytest.raises(ValueError, match="snap"):
        HoldConfig(snap=5)  # needs a hold threshold


def test_region_threshold_and_validation():
    t = HoldConfig(threshold=10, region=(0.5, 1.0, 0.0, 1.0), region_threshold=0).thresholds(4, 2)
    assert torch.all(t[..., :2, :] == 10 * LEVEL) and torch.all(t[..., 2:, :] == 0)
    assert not HoldConfig().enabled and HoldConfig(region=(0.5, 1, 0, 1), region_threshold=3).enabled
    with pytest.raises(ValueError, match="grey levels"):
        HoldConfig(threshold=-1)
    with pytest.raises(ValueError, match="top, bottom, left, right"):
        HoldConfig(threshold=1, region=(0.5, 1.0))


def _world_frames_latents(tiny_world):
    """The tiny world, two random frames, their latents, and latents moved away from them."""
    from worldsim.world_model import WorldModel

    world = WorldModel.load(tiny_world / "world.safetensors")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    z = world.encode(frames)
    return world, rng, frames, z, z + 0.5 * torch.randn_like(z)


def test_display_shows_a_still_scene_exactly_and_is_plain_decoding_without_hold(tiny_world):
    world, _, frames, z, moved = _world_frames_latents(tiny_world)

    plain = Display(world, HoldConfig())
    plain.start(frames)
    assert np.array_equal(plain.show(z), world.decode(z).cpu().numpy())

    held = Display(world, HoldConfig(threshold=8))
    held.start(frames, z)
    for _ in range(3):  # the model keeps predicting the same latent: the real frame stays on screen, bit-exact
        assert np.array_equal(held.show(z), frames)
    redrawn = held.show(moved)
    with torch.no_grad():
        new, old = world.codec.decode(moved), world.codec.decode(z)
    changed = ((new - old).abs().amax(1) >= 8 * LEVEL).numpy()
    assert 0 < changed.mean() < 1
    assert np.array_equal(redrawn[changed], world.decode(moved).cpu().numpy()[changed])
    assert np.array_equal(redrawn[~changed], frames[~changed])


def test_world_hold_default_round_trips_and_reaches_the_simulator(tiny_world, tmp_path):
    from worldsim.sampling.simulator import Simulator
    from worldsim.starts import StartStates
    from worldsim.world_model import WorldModel

    world = WorldModel.load(tiny_world / "world.safetensors")
    assert not world.sampling.hold.enabled  # files written before pixel hold load without it
    world.sampling = replace(world.sampling, hold=HoldConfig(12.0, (0.875, 1.0, 0.0, 1.0), 6.0, snap=3.0))
    world.save(tmp_path / "held.safetensors")
    loaded = WorldModel.load(tmp_path / "held.safetensors")
    assert loaded.sampling.hold == HoldConfig(12.0, (0.875, 1.0, 0.0, 1.0), 6.0, snap=3.0)
    with pytest.raises(ValueError, match="grey levels"):
        HoldConfig(threshold=-2)

    sim = Simulator(loaded, num_streams=2, starts=StartStates.load(tiny_world / "starts.safetensors"))
    first = sim.reset_from_starts(seed=0)
    sim.step(0)
    kept = sim.frames[0].copy()
    again = sim.reset_from_starts(seed=5, streams=[1])  # resetting one stream leaves the other on screen
    assert np.array_equal(again[0], kept) and not np.array_equal(again[1], first[1])
    assert sim.step(1).frames.shape == first.shape


def test_with_a_refiner_a_frame_it_keeps_within_the_threshold_stays_exact(tiny_world):
    from worldsim.codec.autoencoder import CodecConfig, FrameCodec, to_model
    from worldsim.world_model import WorldModel

    base = WorldModel.load(tiny_world / "world.safetensors")
    torch.manual_seed(0)
    codec = FrameCodec(
        CodecConfig(
            channels=(8, 8, 8), decoder_channels=(8, 8, 8), latent_channels=4, refiner_channels=8, refiner_gate=True
        )
    )
    with torch.no_grad():  # a gate 2% open: the refined frame moves at most 5 levels from the one shown before
        codec.refiner.out[2].bias.view(-1, 4)[3].fill_(float(np.log(0.02 / 0.98)))
    world = WorldModel(codec, base.dynamics, base.schema, base.sampling)
    frames = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    z = world.encode(frames)
    with torch.no_grad():
        plain = world.codec.decode(z)
        refined = world.codec.decode(z, to_model(frames))
    assert ((plain - refined).abs().amax(1) >= 8 * LEVEL).float().mean() > 0.5  # far from the plain decoding
    assert not np.array_equal(world.decode(z, frames).cpu().numpy(), frames)  # and not exact without hold

    held = Display(world, HoldConfig(threshold=8))
    held.start(frames, z)
    for _ in range(3):  # compared with the frame shown, not with the plain decoding: nothing is redrawn
        assert np.array_equal(held.show(z), frames)


def test_display_snaps_to_the_frame_each_stream_started_from(tiny_world):
    world, rng, frames, z, moved = _world_frames_latents(tiny_world)
    snapping = Display(world, HoldConfig(threshold=8, snap=1e4))  # every redrawn pixel is "close": all snap
    snapping.start(frames, z)
    assert np.array_equal(snapping.show(moved), frames)
    restarted = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    snapping.start(restarted, streams=[1])  # a restarted stream snaps to its own new start frame
    shown = snapping.show(moved + 0.5 * torch.randn_like(z))
    assert np.array_equal(shown[0], frames[0]) and np.array_equal(shown[1], restarted[0])
    plain = Display(world, HoldConfig(threshold=8))
    plain.start(frames, z)
    assert not np.array_equal(plain.show(moved), frames)
