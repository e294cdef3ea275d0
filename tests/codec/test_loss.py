"""The codec's pixel loss with up-weighted pixels: a frame region, sprites and moving pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.codec.test_codec import tiny_train, toy_data  # noqa: F401  # toy_data is a fixture
from worldsim.codec import FrameCodec
from worldsim.codec.autoencoder import psnr, to_model, to_uint8
from worldsim.codec.loss import (
    background_frame,
    frame_weights,
    motion_weights,
    pixel_weights,
    reconstruction_loss,
    sprite_weights,
)
from worldsim.config import from_dict
from worldsim.data.frames import FrameSampler
from worldsim.errors import ConfigError
from worldsim.training.codec import CODEC_FILE, CodecTrainConfig, train_codec
from worldsim.training.refine import RefineConfig


def test_pixel_weights_mark_the_region_and_average_one():
    assert pixel_weights(64, 64, (), 8.0) is None
    assert pixel_weights(64, 64, (0.5, 1.0, 0.0, 1.0), 1.0) is None
    w = pixel_weights(64, 32, (0.875, 1.0, 0.25, 0.75), 8.0)
    assert w.shape == (1, 1, 64, 32) and w.mean().item() == pytest.approx(1.0)
    inside = torch.zeros(64, 32, dtype=torch.bool)
    inside[56:, 8:24] = True
    assert torch.allclose(w[0, 0][inside], w[0, 0][inside][0]) and torch.allclose(w[0, 0][~inside], w[0, 0][0, 0])
    assert (w[0, 0][inside][0] / w[0, 0][0, 0]).item() == pytest.approx(8.0)


def test_weighted_loss_counts_region_errors_more_and_reports_plain_terms():
    x = torch.zeros(1, 3, 8, 8)
    top, bottom = x.clone(), x.clone()
    top[..., 0, 0], bottom[..., 7, 0] = 0.5, 0.5  # the same error, outside and inside the region
    w = pixel_weights(8, 8, (0.875, 1.0, 0.0, 1.0), 4.0)
    loss_top, mse_top, l1_top = reconstruction_loss(top, x, w)
    loss_bottom, mse_bottom, l1_bottom = reconstruction_loss(bottom, x, w)
    assert loss_bottom.item() == pytest.approx(4 * loss_top.item())
    assert mse_top.item() == mse_bottom.item() and l1_top.item() == l1_bottom.item()  # unweighted
    plain, mse, l1 = reconstruction_loss(top, x, None, mse_weight=2.0, l1_weight=0.5)
    assert plain.item() == pytest.approx(2 * mse.item() + 0.5 * l1.item())


def test_sprite_weights_pick_what_differs_from_the_background_and_average_one():
    field = torch.full((5, 3, 8, 8), -1.0)  # a black field
    field[:, 0, 0, :] = 0.5  # a red wall every frame shows
    field[0, :, 4, 4] = 1.0  # a ball, in one frame only: not part of the background
    background = background_frame(field)
    assert torch.equal(background[0, :, 0, 0], field[1, :, 0, 0]) and torch.equal(
        background[0, :, 4, 4], field[1, :, 4, 4]
    )
    x = field[:2].clone()
    x[1, 0, 6, 6] = -1.0 + 20 * 2 / 255  # 20 grey levels off the background: under a threshold of 30
    w = sprite_weights(x, background, 50.0, 30.0)
    assert w.shape == (2, 1, 8, 8) and w.mean().item() == pytest.approx(1.0)
    assert (w[0, 0, 4, 4] / w[0, 0, 0, 0]).item() == pytest.approx(50.0)  # the ball
    assert w[1, 0, 6, 6] == w[1, 0, 0, 0] and w[0, 0, 0, 0] == w[1, 0, 0, 0]  # the wall and faint change: plain
    region = pixel_weights(8, 8, (0.875, 1.0, 0.0, 1.0), 4.0)
    both = sprite_weights(x, background, 50.0, 30.0, region)
    assert (both[1, 0, 7, 0] / both[1, 0, 0, 0]).item() == pytest.approx(4.0) and both.mean().item() == pytest.approx(
        1.0
    )


def test_motion_weights_pick_what_changed_since_the_previous_frame():
    prev = torch.full((2, 3, 8, 8), -1.0)
    prev[:, 0, 2, 2] = 0.5  # the ball's old place
    x = torch.full((2, 3, 8, 8), -1.0)
    x[:, 0, 2, 3] = 0.5  # ... and its new one
    x[1, 1, 6, 6] = -1.0 + 20 * 2 / 255  # a faint change, under the threshold
    w = motion_weights(x, prev, 100.0, 30.0)
    assert w.shape == (2, 1, 8, 8) and w.mean().item() == pytest.approx(1.0)
    for y, x_ in ((2, 2), (2, 3)):  # where the ball was must be drawn empty: it weighs as much
        assert (w[0, 0, y, x_] / w[0, 0, 0, 0]).item() == pytest.approx(100.0)
    assert w[1, 0, 6, 6] == w[1, 0, 0, 0]
    assert torch.equal(motion_weights(x, x, 100.0, 30.0), torch.ones(2, 1, 8, 8))  # nothing moved: plain mean


def test_frame_weights_stack_region_sprite_and_motion_weights():
    x, prev = torch.full((1, 3, 8, 8), -1.0), torch.full((1, 3, 8, 8), -1.0)
    x[0, :, 0, 0] = 1.0  # a sprite that moved in: both boosts
    x[0, :, 7, 7] = 1.0
    prev[0, :, 7, 7] = 1.0  # a sprite that stayed: sprite boost only
    background = torch.full((1, 3, 8, 8), -1.0)
    region = pixel_weights(8, 8, (0.875, 1.0, 0.0, 1.0), 4.0)
    assert frame_weights(x, None) is None and frame_weights(x, None, background, (1.0, 30.0), prev) is None
    assert frame_weights(x, region) is region
    w = frame_weights(x, region, background, (5.0, 30.0), prev, (10.0, 30.0))
    assert w.mean().item() == pytest.approx(1.0)
    assert (w[0, 0, 0, 0] / w[0, 0, 0, 1]).item() == pytest.approx(50.0)
    assert (w[0, 0, 7, 7] / w[0, 0, 7, 6]).item() == pytest.approx(5.0)
    assert (w[0, 0, 7, 6] / w[0, 0, 0, 1]).item() == pytest.approx(4.0)  # the region


def test_frames_come_with_their_episode_previous_frame(toy_data, tmp_path):  # noqa: F811
    from worldsim.data.dataset import Dataset

    frames = FrameSampler(Dataset(toy_data), "train")
    assert frames.first[0] and frames.first.sum() >= 1
    x, prev = frames.sample_with_previous(np.random.default_rng(3), 2000)
    assert np.array_equal(x, frames.sample(np.random.default_rng(3), 2000))  # the same draw as sample()
    index = np.random.default_rng(3).integers(0, len(frames), 2000)
    starts = frames.first[index]
    assert starts.any() and np.array_equal(prev[starts], x[starts])
    assert np.array_equal(prev[~starts], frames.take(index[~starts] - 1))
    cfg = tiny_train(toy_data, tmp_path / "motion", steps=4, eval_every=4, motion_weight=20.0)
    assert train_codec(cfg, progress=False)["step"] == 4


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"region": [0.9, 0.1, 0.0, 1.0]}, "0 <= top < bottom <= 1"),
        ({"region": [0.5, 1.0]}, r"\(top, bottom, left, right\)"),
        ({"region": [0.5, 1.0, 0.0, 1.0], "region_weight": 0}, "region_weight must be > 0"),
    ],
)
def test_bad_regions_are_config_errors(settings, message):
    with pytest.raises(ConfigError, match="sprite_weight"):
        from_dict(CodecTrainConfig, {"sprite_weight": 0}, where="recipe.yaml")
    for cls in (CodecTrainConfig, RefineConfig):
        with pytest.raises(ConfigError, match="motion_weight and motion_threshold must be > 0"):
            from_dict(cls, {"motion_threshold": -1}, where="recipe.yaml")
        with pytest.raises(ConfigError, match=message):
            from_dict(cls, settings, where="recipe.yaml")


def test_weighting_a_region_shifts_quality_towards_it(toy_data, tmp_path):  # noqa: F811
    region = (0.75, 1.0, 0.0, 1.0)  # the bottom quarter
    runs = {}
    for name, weight in (("plain", 1.0), ("weighted", 20.0)):
        cfg = tiny_train(toy_data, tmp_path / name, steps=60, region=region, region_weight=weight)
        train_codec(cfg, progress=False)
        runs[name] = FrameCodec.from_checkpoint(tmp_path / name / CODEC_FILE).eval()
    from worldsim.data.dataset import Dataset

    ds = Dataset(toy_data)
    frames = np.asarray(ds.shards[0].arrays["frames"][:64])
    scores = {}
    for name, codec in runs.items():
        with torch.no_grad():
            recon = to_uint8(codec.decode(codec.encode(to_model(frames)))).numpy()
        scores[name] = (psnr(frames[:, 48:], recon[:, 48:]), psnr(frames[:, :48], recon[:, :48]))
    # Region PSNR minus the rest's: the same capacity and steps, spent more on the region.
    margin = {name: region - rest for name, (region, rest) in scores.items()}
    assert margin["weighted"] > margin["plain"] + 2.0, scores
    assert scores["weighted"][0] >= scores["plain"][0] - 0.5, scores  # the region itself did not get worse


def test_label_mask_fills_the_labelled_boxes():
    from worldsim.codec.loss import label_mask

    labels = np.zeros((2, 3, 5), np.float32)
    labels[0, 0] = [1, 2.5, 1.0, 4.2, 3.0]  # columns 2-4, rows 1-2
    labels[0, 2] = [2, 60.0, 60.0, 70.0, 70.0]  # runs off the frame: clipped
    labels[1, 1] = [0, 0.0, 0.0, 8.0, 8.0]  # kind 0: an empty row, ignored
    mask = label_mask(labels, 64, 64)
    assert mask.shape == (2, 1, 64, 64) and mask.dtype == torch.bool
    assert mask[0, 0, 1:3, 2:5].all() and mask[0, 0].sum() == 2 * 3 + 4 * 4
    assert not mask[1].any()
    x = torch.zeros(2, 3, 64, 64)
    w = frame_weights(x, None, boxes=mask, label_weight=10.0)
    assert w.mean().item() == pytest.approx(1.0)
    assert (w[0, 0, 1, 2] / w[0, 0, 0, 0]).item() == pytest.approx(10.0)
    assert frame_weights(x, None, boxes=mask, label_weight=1.0) is None


def test_label_weights_need_a_labelled_dataset(toy_data, tmp_path):  # noqa: F811
    from worldsim.errors import DatasetError

    cfg = tiny_train(toy_data, tmp_path / "labels", steps=2, label_weight=10.0)
    with pytest.raises(DatasetError, match="label_weight needs per-frame labels"):
        train_codec(cfg, progress=False)
    with pytest.raises(ConfigError, match="label_weight must be > 0"):
        from_dict(CodecTrainConfig, {"label_weight": 0}, where="recipe.yaml")


def test_breakout_windows_mark_the_ball_only_when_a_loss_weighs_it(tmp_path):
    pytest.importorskip("ale_py")
    from worldsim.data.collect import CollectConfig, collect
    from worldsim.data.dataset import Dataset
    from worldsim.training.windows import read_window

    data = tmp_path / "breakout"
    collect(CollectConfig(world="breakout", out=str(data), frames=80, seed=5, policy="scripted"))
    ds = Dataset(data)
    assert ds.has_labels
    latents = [np.zeros((len(sh.arrays["frames"]), 4, 8, 8), np.float32) for sh in ds.shards]
    ep = 0
    marks = read_window(ds, latents, ep, 40, 4, len(ds.schema))[5]
    assert (marks.sum(axis=(1, 2)) >= 1).all() and (marks.sum(axis=(1, 2)) <= 4).all()  # the ball: 1-4 of 64
    assert not read_window(ds, latents, ep, 40, 4, len(ds.schema), boxes=False)[5].any()


def test_codec_trains_with_the_labels_of_a_doom_dataset(tmp_path):
    pytest.importorskip("vizdoom")
    from worldsim.data.collect import CollectConfig, collect
    from worldsim.data.dataset import Dataset

    data = tmp_path / "doom"
    opts = {"max_episode_steps": 60}
    collect(CollectConfig(world="doom", out=str(data), frames=120, seed=4240, policy="random", world_options=opts))
    frames = FrameSampler(Dataset(data), "train")
    assert frames.has_labels
    labels = frames.labels(np.arange(len(frames)))
    assert labels.shape == (len(frames), 8, 5)
    ds = Dataset(data)
    episode = ds.episode(ds.split("train")[0])  # the rows are the episode's own, frame by frame
    assert np.array_equal(labels[: episode.num_steps + 1], episode.labels[: len(labels)])
    from worldsim.training.windows import latent_boxes, read_window

    latents = [np.zeros((len(sh.arrays["frames"]), 4, 8, 8), np.float32) for sh in ds.shards]
    ep = ds.split("train")[0]
    window = read_window(ds, latents, ep, 0, 4, len(ds.schema))
    assert np.array_equal(window[5], latent_boxes(episode.labels[:4], (64, 64), (8, 8)))  # the dynamics' label mask
    cfg = tiny_train(data, tmp_path / "codec", steps=3, eval_every=3, label_weight=20.0)
    assert train_codec(cfg, progress=False)["step"] == 3
