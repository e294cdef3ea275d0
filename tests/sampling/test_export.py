import torch

from worldsim.cli import main
from worldsim.codec.autoencoder import CodecConfig, FrameCodec
from worldsim.model.dynamics import DynamicsTransformer, preset
from worldsim.sampling.backends import make_backend
from worldsim.sampling.config import SamplingConfig
from worldsim.sources import make_world
from worldsim.world_model import WorldModel


def test_export_onnx_then_reuse(tmp_path, caplog):
    torch.manual_seed(0)
    codec = FrameCodec(CodecConfig(channels=(8, 8, 8), decoder_channels=(8, 8, 8), latent_channels=4))
    dyn = DynamicsTransformer(preset("tiny", num_actions=5, latent_channels=4))
    WorldModel(codec, dyn, make_world("toy").schema).save(tmp_path / "world.safetensors")
    out = tmp_path / "compiled"
    assert main(["export", str(tmp_path / "world.safetensors"), "--backend", "onnx", "--out", str(out),
                 "--device", "cpu", "--steps", "1"]) == 0  # fmt: skip
    files = sorted(p.name for p in out.glob("*.onnx"))
    # The per-frame step (the context fill runs eager: once per reset) and the decoder.
    assert [f.split("-")[0] for f in files] == ["decode", "step"]
    before = {p: p.stat().st_mtime_ns for p in out.glob("*.onnx")}
    backend = make_backend(WorldModel.load(tmp_path / "world.safetensors").dynamics, "onnx", cache_dir=out)
    with caplog.at_level("INFO"):
        from worldsim.sampling.cached import CachedSampler

        s = CachedSampler(backend, SamplingConfig(1))
        state = s.start(torch.zeros(1, 5, 4, 8, 8), torch.zeros(1, 5, dtype=torch.long))
        s.step(state, torch.zeros(1, dtype=torch.long))
    assert "exported" not in caplog.text  # reused, not re-exported
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.onnx")} == before


def test_export_refuses_backends_without_files(tmp_path, capsys):
    torch.manual_seed(0)
    codec = FrameCodec(CodecConfig(channels=(8, 8, 8), decoder_channels=(8, 8, 8), latent_channels=4))
    dyn = DynamicsTransformer(preset("tiny", num_actions=5, latent_channels=4))
    WorldModel(codec, dyn, make_world("toy").schema).save(tmp_path / "w.safetensors")
    assert main(["export", str(tmp_path / "w.safetensors"), "--backend", "eager", "--out", str(tmp_path)]) == 2
    assert "only 'onnx' and 'tensorrt'" in capsys.readouterr().err


def test_export_builds_the_guided_step_the_world_plays_with(tmp_path, caplog):
    from dataclasses import replace

    from worldsim.sampling.config import GuidanceConfig
    from worldsim.sampling.simulator import Simulator

    torch.manual_seed(0)
    codec = FrameCodec(CodecConfig(channels=(8, 8, 8), decoder_channels=(8, 8, 8), latent_channels=4))
    dyn = DynamicsTransformer(preset("tiny", num_actions=5, latent_channels=4))
    world = WorldModel(codec, dyn, make_world("toy").schema, replace(SamplingConfig(1), guidance=GuidanceConfig(2.0)))
    world.save(tmp_path / "world.safetensors")
    out = tmp_path / "compiled"
    assert main(["export", str(tmp_path / "world.safetensors"), "--backend", "onnx", "--out", str(out),
                 "--device", "cpu"]) == 0  # fmt: skip
    assert any(p.name.startswith("step-2-1-") for p in out.glob("*.onnx"))  # conditional + null-action streams
    sim = Simulator(WorldModel.load(tmp_path / "world.safetensors"), backend="onnx", cache_dir=out)
    with caplog.at_level("INFO"):
        sim.reset(torch.zeros(1, 5, 64, 64, 3, dtype=torch.uint8).numpy())
        sim.step(0)
    assert "exported" not in caplog.text  # play finds every program it needs
    unguided = tmp_path / "unguided"
    assert main(["export", str(tmp_path / "world.safetensors"), "--backend", "onnx", "--out", str(unguided),
                 "--device", "cpu", "--guidance", "1"]) == 0  # fmt: skip
    assert not any(p.name.startswith("step-2-") for p in unguided.glob("*.onnx"))
