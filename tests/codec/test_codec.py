import csv
import json

import numpy as np
import pytest
import torch

from worldsim.checkpoint import load_checkpoint, save_checkpoint
from worldsim.cli import main
from worldsim.codec import CodecConfig, FrameCodec, to_model, to_uint8
from worldsim.config import from_dict, to_dict
from worldsim.errors import CheckpointError, ConfigError
from worldsim.training.codec import CODEC_FILE, EVAL_FILE, METRICS_FILE, STATE_FILE, CodecTrainConfig, train_codec

TINY = dict(
    channels=(8, 16, 16),
    encoder_blocks=(0, 0, 1),
    mid_blocks=0,
    decoder_channels=(8, 16, 16),
    decoder_blocks=(0, 0, 1),
    latent_channels=4,
)


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    from worldsim.data.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("codec") / "ds"
    collect(CollectConfig(world="toy", out=str(out), frames=400, frames_per_shard=200), progress=False)
    return out


def tiny_train(data, out, **kw):
    settings = dict(
        data=str(data),
        out=str(out),
        steps=40,
        batch_size=8,
        lr=3e-3,
        warmup_steps=5,
        log_every=10,
        eval_every=20,
        ckpt_every=100,
        eval_frames=48,
        stats_frames=64,
        threads=1,
        codec=CodecConfig(**TINY),
    )
    return CodecTrainConfig(**{**settings, **kw})


def random_frames(n, h=64, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("size", "kw", "latent"),
    [((64, 64), {}, (8, 8, 8)), ((48, 64), {}, (8, 6, 8)), ((64, 32), dict(TINY), (4, 8, 4))],
)
def test_shapes(size, kw, latent):
    codec = FrameCodec(CodecConfig(height=size[0], width=size[1], **kw)).eval()
    x = to_model(random_frames(2, *size))
    assert x.shape == (2, 3, *size) and x.dtype == torch.float32
    with torch.no_grad():
        z = codec.encode(x)
        assert z.shape == (2, *latent) == (2, *codec.latent_shape)
        assert codec.decode(z).shape == (2, 3, *size)


def test_config_validation_and_dict_round_trip():
    with pytest.raises(ValueError, match="power of two"):
        CodecConfig(downsample=6)
    with pytest.raises(ValueError, match="multiple of downsample"):
        CodecConfig(height=60)
    with pytest.raises(ValueError, match="one entry per halving"):
        CodecConfig(downsample=4)
    cfg = CodecConfig(
        height=48,
        downsample=4,
        channels=(8, 16),
        encoder_blocks=(1, 1),
        decoder_channels=(8, 16),
        decoder_blocks=(0, 1),
    )
    assert from_dict(CodecConfig, to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="channels"):
        from_dict(CodecTrainConfig, {"codec": {"channels": [8, 8]}})


def test_to_model_to_uint8_round_trip_is_exact():
    frames = np.arange(256 * 3, dtype=np.int64).reshape(1, 16, 16, 3).astype(np.uint8)
    x = to_model(frames)
    assert x.shape == (1, 3, 16, 16) and x.min() == -1.0 and x.max() == 1.0
    assert np.array_equal(to_uint8(x).numpy(), frames)
    assert torch.equal(to_uint8(to_model(torch.from_numpy(frames))), torch.from_numpy(frames))
    ro = frames.copy()
    ro.flags.writeable = False  # like a memory-mapped shard
    assert np.array_equal(to_uint8(to_model(ro[0])).numpy(), frames[0])
    clamped = to_uint8(torch.tensor([-3.0, 3.0]).reshape(1, 2, 1).expand(3, 2, 1))
    assert clamped.dtype == torch.uint8 and clamped[:, 0].tolist() == [[0, 0, 0], [255, 255, 255]]


def test_fit_latent_stats_normalises_latents():
    codec = FrameCodec(CodecConfig(**TINY))
    frames = random_frames(32)
    mean, std = codec.fit_latent_stats([frames[:16], frames[16:]])
    assert mean.shape == std.shape == (4,)
    with torch.no_grad():
        z = codec.encode(to_model(frames))
    assert torch.allclose(z.mean((0, 2, 3)), torch.zeros(4), atol=1e-4)
    assert torch.allclose(z.std((0, 2, 3), correction=0), torch.ones(4), atol=1e-3)


def test_save_and_load_round_trip(tmp_path):
    codec = FrameCodec(CodecConfig(height=48, **TINY))
    codec.fit_latent_stats([random_frames(8, 48)])
    path = tmp_path / "codec.safetensors"
    codec.save(path, world="toy", val_psnr=30.5)
    loaded = FrameCodec.from_checkpoint(path)
    assert loaded.config == codec.config and not loaded.training
    assert loaded.metadata == {"world": "toy", "val_psnr": 30.5}
    x = to_model(random_frames(3, 48, seed=1))
    codec.eval()
    with torch.no_grad():
        assert torch.equal(loaded.encode(x), codec.encode(x))
        z = torch.randn(3, *codec.latent_shape)
        assert torch.equal(loaded.decode(z), codec.decode(z))


def test_bad_checkpoints_raise_checkpoint_error(tmp_path):
    codec = FrameCodec(CodecConfig(**TINY))
    good = tmp_path / "codec.safetensors"
    codec.save(good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.safetensors"):
        FrameCodec.from_checkpoint(truncated)
    wrong_kind = tmp_path / "dynamics.safetensors"
    save_checkpoint(wrong_kind, {"w": torch.zeros(1)}, kind="dynamics", config={})
    with pytest.raises(CheckpointError, match="dynamics.safetensors.*expected a 'codec'"):
        FrameCodec.from_checkpoint(wrong_kind)
    mismatched = tmp_path / "mismatched.safetensors"
    tensors, _ = load_checkpoint(good)
    save_checkpoint(mismatched, tensors, kind="codec", config=to_dict(CodecConfig(**{**TINY, "latent_channels": 8})))
    with pytest.raises(CheckpointError, match="mismatched.safetensors.*do not fit"):
        FrameCodec.from_checkpoint(mismatched)
    with pytest.raises(CheckpointError, match="not found"):
        FrameCodec.from_checkpoint(tmp_path / "missing.safetensors")


def read_metrics(run):
    with open(run / METRICS_FILE, newline="") as f:
        return list(csv.DictReader(f))


def test_training_improves_reconstruction(toy_data, tmp_path):
    run = tmp_path / "run"
    threads = torch.get_num_threads()
    result = train_codec(tiny_train(toy_data, run, steps=150, eval_every=75), progress=False)
    rows = read_metrics(run)
    start = float(rows[0]["val_psnr"])
    assert rows[0]["step"] == "0" and rows[-1]["step"] == "150"
    assert result["val_psnr"] > start + 6, (start, result["val_psnr"])
    assert float(rows[-1]["loss"]) < 0.3 * float(rows[1]["loss"])
    assert torch.get_num_threads() == threads  # threads=1 applied to the run only

    report = json.loads((run / EVAL_FILE).read_text())
    assert report["val_psnr"] == pytest.approx(result["val_psnr"]) and report["decode_ms"] > 0
    assert 0 <= report["val_moving_recall"] <= 1  # the toy world's blobs move every frame
    codec = FrameCodec.from_checkpoint(run / CODEC_FILE)
    assert codec.metadata["world"] == "toy" and codec.metadata["steps"] == 150
    assert codec.metadata["action_schema"]["world"] == "toy"
    assert not torch.equal(codec.latent_std, torch.ones(4))  # statistics were fitted


def test_sigterm_saves_the_step_it_stopped_at_and_the_run_resumes(toy_data, tmp_path, monkeypatch):
    import signal

    import worldsim.training.codec as codec_train

    calls, losses = [], codec_train._losses

    def signalled(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:  # as if `kill` arrived during step 7, long before a periodic checkpoint (100)
            signal.raise_signal(signal.SIGTERM)
        return losses(*args, **kwargs)

    monkeypatch.setattr(codec_train, "_losses", signalled)
    before = signal.getsignal(signal.SIGTERM)
    stopped = train_codec(tiny_train(toy_data, tmp_path), progress=False)
    assert stopped["stopped"] and stopped["step"] == 7
    assert load_checkpoint(tmp_path / STATE_FILE, kind="train_state")[1]["step"] == 7
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is only there while training
    monkeypatch.setattr(codec_train, "_losses", losses)
    assert train_codec(tiny_train(toy_data, tmp_path), progress=False)["step"] == 40


def test_resume_gives_identical_weights(toy_data, tmp_path):
    once, twice = tmp_path / "once", tmp_path / "twice"
    train_codec(tiny_train(toy_data, once), progress=False)
    stopped = train_codec(tiny_train(toy_data, twice), progress=False, stop_at=20)
    assert stopped["stopped"] and stopped["step"] == 20 and not (twice / CODEC_FILE).exists()
    with (twice / METRICS_FILE).open("a") as f:
        f.write("30,9,9,9,9,9,,9,9,9,9\n")  # a row logged after the last checkpoint, then a crash
    with pytest.raises(ConfigError, match="other settings \\(label_weight: 1.0 -> 5.0\\)"):
        train_codec(tiny_train(toy_data, twice, label_weight=5.0), progress=False)
    train_codec(tiny_train(toy_data, twice), progress=False)

    a, meta_a = load_checkpoint(once / STATE_FILE, kind="train_state")
    b, meta_b = load_checkpoint(twice / STATE_FILE, kind="train_state")
    assert meta_a["step"] == meta_b["step"] == 40
    assert a.keys() == b.keys() and any(k.startswith("optim.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)
    codec_a, _ = load_checkpoint(once / CODEC_FILE)
    codec_b, _ = load_checkpoint(twice / CODEC_FILE)
    assert all(torch.equal(codec_a[k], codec_b[k]) for k in codec_a)
    steps = [r["step"] for r in read_metrics(twice)]
    assert steps == [r["step"] for r in read_metrics(once)] == ["0", "10", "20", "30", "40"]

    with pytest.raises(ConfigError, match=r"other settings \(codec.latent_channels: 4 -> 8\)"):
        train_codec(tiny_train(toy_data, twice, codec=CodecConfig(**{**TINY, "latent_channels": 8})), progress=False)


def test_cli_trains_and_reports(toy_data, tmp_path, caplog):
    out = tmp_path / "cli"
    argv = ["train-codec", str(toy_data), "eval_frames=16", "stats_frames=32", "warmup_steps=1"]
    argv += [f"codec.{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in TINY.items()]
    argv += ["--out", str(out), "--steps", "3", "--batch-size", "4", "--threads", "1", "--no-progress"]
    with caplog.at_level("INFO"):
        assert main(argv) == 0
    assert "val PSNR" in caplog.text and str(out / CODEC_FILE) in caplog.text
    assert main(["train-codec", str(tmp_path / "missing"), "--out", str(out)]) == 2
