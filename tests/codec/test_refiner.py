"""The codec refiner: decoding a frame after the previous one, and ``worldsim refine``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldsim.cli import main
from worldsim.codec.autoencoder import CodecConfig, FrameCodec, to_model, to_uint8
from worldsim.errors import CheckpointError, ConfigError, DatasetError
from worldsim.sampling.open_loop import open_loop
from worldsim.training.latents import codec_digest
from worldsim.training.refine import RefineConfig, evaluate_chain, train_refiner
from worldsim.world_model import WorldModel

SMALL = dict(channels=(8, 8, 8), decoder_channels=(8, 8, 8), latent_channels=4)


def _codecs() -> tuple[FrameCodec, FrameCodec]:
    torch.manual_seed(0)
    plain = FrameCodec(CodecConfig(**SMALL))
    refined = FrameCodec(CodecConfig(**SMALL, refiner_channels=8, refiner_blocks=1))
    refined.load_state_dict(plain.state_dict(), strict=False)
    return plain.eval(), refined.eval()


def test_untrained_refiner_changes_nothing_and_prev_is_optional():
    plain, refined = _codecs()
    z, prev = torch.randn(2, 4, 8, 8), torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        base = plain.decode(z)
        assert torch.equal(refined.decode(z), base)  # no previous frame: the plain decoder
        assert torch.allclose(refined.decode(z, prev), base, atol=1e-6)  # zero-initialised output layer
        assert torch.equal(plain.decode(z, prev), base)  # a codec without a refiner ignores prev
        torch.nn.init.normal_(refined.refiner.out[2].weight, std=0.1)
        assert not torch.allclose(refined.decode(z, prev), base, atol=1e-3)  # once trained, prev matters
    assert refined.num_params()["refiner"] > 0 and plain.num_params()["refiner"] == 0


def test_gated_refiner_starts_open_and_copies_exactly_when_closed():
    torch.manual_seed(0)
    codec = FrameCodec(CodecConfig(**SMALL, refiner_channels=8, refiner_blocks=1, refiner_gate=True)).eval()
    z = torch.randn(2, 4, 8, 8)
    prev = to_model(np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    with torch.no_grad():
        base = codec.decode(z)
        assert torch.allclose(codec.decode(z, prev), base, atol=1e-3)  # open gate: the plain decoding
        codec.refiner.out[2].bias.view(-1, 4)[3].fill_(-20.0)  # closed gate everywhere
        assert torch.equal(to_uint8(codec.decode(z, prev)), to_uint8(prev))  # the previous frame, bit for bit


def test_refiner_leaves_the_latent_cache_key_alone():
    plain, refined = _codecs()
    with torch.no_grad():
        torch.nn.init.normal_(refined.refiner.out[2].weight)
    assert codec_digest(plain) == codec_digest(refined)  # encodings are shared: only decoding changed


def test_codec_with_refiner_round_trips(tmp_path):
    _, refined = _codecs()
    refined.save(tmp_path / "c.safetensors")
    loaded = FrameCodec.from_checkpoint(tmp_path / "c.safetensors")
    assert loaded.has_refiner and loaded.config.refiner_channels == 8
    z, prev = torch.randn(1, 4, 8, 8), torch.zeros(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.decode(z, prev), refined.decode(z, prev))


def test_bad_refiner_settings_are_refused():
    with pytest.raises(ValueError, match="refiner_channels"):
        CodecConfig(refiner_channels=-1)
    with pytest.raises(ValueError, match="self_prev"):
        RefineConfig(self_prev=1.5)
    with pytest.raises(ValueError, match="self_chain"):
        RefineConfig(self_chain=0)


def _cfg(tiny_world, out, **kw) -> RefineConfig:
    base = dict(world=str(tiny_world / "world.safetensors"), data=str(tiny_world / "ds"), out=str(out), steps=30,
                batch_size=8, channels=8, blocks=1, eval_every=15, log_every=5, ckpt_every=10, eval_windows=4,
                eval_length=4, warmup_steps=5, lr=3e-3, device="cpu", threads=1)  # fmt: skip
    return RefineConfig(**{**base, **kw})


def test_refine_trains_and_writes_a_world_that_rollouts_use(tiny_world, tmp_path):
    result = train_refiner(_cfg(tiny_world, tmp_path / "r"), progress=False)
    v = result["val_psnr"]
    assert v["refined"] > v["plain"]  # the toy world's frames barely change: the previous frame helps a lot
    world = WorldModel.load(result["world_file"])
    plain = WorldModel.load(tiny_world / "world.safetensors")
    assert world.codec.has_refiner and world.metadata["refiner"]["steps"] == 30
    for k, t in plain.dynamics.state_dict().items():
        assert torch.equal(world.dynamics.state_dict()[k], t)  # dynamics untouched
    ds_frames = np.zeros((1, 3, 64, 64, 3), np.uint8)
    args = (ds_frames, np.zeros((1, 3), np.int64), np.zeros((1, 4), np.int64))
    a = open_loop(world, *args, {"steps": 1}, seed=0)["frames"]
    b = open_loop(plain, *args, {"steps": 1}, seed=0)["frames"]
    assert a.shape == b.shape == (1, 4, 64, 64, 3) and not np.array_equal(a, b)


def test_refine_resumes_to_the_same_weights(tiny_world, tmp_path):
    whole = train_refiner(_cfg(tiny_world, tmp_path / "a", steps=20), progress=False)
    part = train_refiner(_cfg(tiny_world, tmp_path / "b", steps=20), progress=False, stop_at=10)
    assert part["stopped"] and part["step"] == 10
    with pytest.raises(ConfigError, match="other settings \\(lr: 0.003 -> 0.001\\)"):  # a run is resumed as it began
        train_refiner(_cfg(tiny_world, tmp_path / "b", steps=20, lr=1e-3), progress=False)
    train_refiner(_cfg(tiny_world, tmp_path / "b", steps=20, eval_windows=3), progress=False)  # evaluation may change
    a = WorldModel.load(whole["world_file"]).codec.refiner.state_dict()
    b = WorldModel.load(tmp_path / "b" / "world.safetensors").codec.refiner.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_refine_errors_name_the_file(tiny_world, tmp_path):
    with pytest.raises(CheckpointError, match="missing.safetensors"):
        train_refiner(_cfg(tiny_world, tmp_path / "r", world=str(tmp_path / "missing.safetensors")), progress=False)
    with pytest.raises(DatasetError, match="nowhere"):
        train_refiner(_cfg(tiny_world, tmp_path / "r", data=str(tmp_path / "nowhere")), progress=False)


def test_chain_evaluation_of_a_plain_codec_equals_plain_decoding():
    plain, _ = _codecs()
    frames = np.random.default_rng(0).integers(0, 255, (2, 4, 64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        latents = plain.encode(to_model(frames.reshape(-1, 64, 64, 3))).reshape(2, 4, 4, 8, 8).numpy()
    ev = evaluate_chain(plain, frames, latents)
    assert ev["refined"] == pytest.approx(ev["plain"])


def test_refine_cli(tiny_world, tmp_path, caplog):
    caplog.set_level("INFO")
    out = tmp_path / "cli"
    code = main(["refine", str(tiny_world / "world.safetensors"), "--data", str(tiny_world / "ds"), "--out", str(out),
                 "--steps", "4", "--no-progress", "batch_size=4", "channels=4", "blocks=0", "eval_windows=2",
                 "eval_length=3", "device=cpu"])  # fmt: skip
    assert code == 0 and (out / "world.safetensors").is_file() and (out / "refine_eval.json").is_file()
    assert "copy-last" in caplog.text


def test_history_refiner_reads_the_older_frame_and_refuses_a_short_history():
    torch.manual_seed(0)
    codec = FrameCodec(CodecConfig(**SMALL, refiner_channels=8, refiner_blocks=1, refiner_history=2)).eval()
    z = torch.randn(2, 4, 8, 8)
    prev, older = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.nn.init.normal_(codec.refiner.out[2].weight, std=0.1)
        a = codec.decode(z, torch.cat([prev, older], 1))
        b = codec.decode(z, torch.cat([prev, -older], 1))
        assert not torch.allclose(a, b, atol=1e-3)  # the frame before the previous one matters
        with pytest.raises(ValueError, match="2 previous frames"):
            codec.decode(z, prev)
    with pytest.raises(ValueError, match="refiner_history"):
        CodecConfig(refiner_history=0)


def test_history_refiner_trains_and_the_display_feeds_it_the_frames_shown(tiny_world, tmp_path):
    from worldsim.codec.autoencoder import history_channels
    from worldsim.sampling.config import HoldConfig
    from worldsim.sampling.display import Display

    cfg = _cfg(tiny_world, tmp_path / "h", history=2, steps=10, self_chain=3)
    result = train_refiner(cfg, progress=False)
    world = WorldModel.load(result["world_file"])
    assert world.codec.config.refiner_history == 2
    rng = np.random.default_rng(0)
    context = rng.integers(0, 256, (2, 3, 64, 64, 3), dtype=np.uint8)
    z = torch.randn(2, 2, *world.codec.latent_shape)
    display = Display(world, HoldConfig())
    display.start(context[:, -1], before=context[:, :-1])
    shown = [display.show(z[:, 0]).copy(), display.show(z[:, 1]).copy()]
    # By hand: each frame decoded after the two shown before it.
    past = torch.as_tensor(context[:, -2:])
    expect = []
    for t in range(2):
        prev = history_channels(to_model(past), 2)
        frame = to_uint8(world.codec.decode(z[:, t], prev))
        expect.append(frame.numpy())
        past = torch.stack([past[:, 1], frame], 1)
    assert all(np.array_equal(a, b) for a, b in zip(shown, expect, strict=True))
    # Without the frames before, the oldest known frame stands in for them.
    display.start(context[:, -1])
    again = display.show(z[:, 0])
    frozen = history_channels(to_model(np.stack([context[:, -1]] * 2, 1)), 2)
    assert np.array_equal(again, to_uint8(world.codec.decode(z[:, 0], frozen)).numpy())
