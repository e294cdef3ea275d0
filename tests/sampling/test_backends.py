import pytest
import torch

from worldsim.errors import DependencyNotInstalled, UnknownNameError
from worldsim.model.dynamics import DynamicsTransformer, preset
from worldsim.sampling.backends import check_backend, make_backend
from worldsim.sampling.cached import CachedSampler
from worldsim.sampling.config import SamplingConfig


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = DynamicsTransformer(preset("tiny", num_actions=4, latent_channels=4, latent_height=4, latent_width=4)).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


def _rollout(backend, lookahead=0, actions=(1, 1, 2, 2, 2, 0)):
    s = CachedSampler(backend, SamplingConfig(2), torch.Generator().manual_seed(3), lookahead=lookahead)
    state = s.start(torch.randn(2, 3, 4, 4, 4, generator=torch.Generator().manual_seed(4)), torch.zeros(2, 3).long())
    outs = []
    for a in actions:
        state, out = s.step(state, torch.tensor([a, a]))
        outs.append(torch.cat([out["latent"].flatten(1), out["reward"][:, None], out["term_prob"][:, None]], 1))
    return torch.stack(outs, 1)


@pytest.mark.parametrize("name", ["onnx", "compile"])
def test_backend_matches_eager(model, name):
    if check_backend(name, torch.device("cpu")):
        pytest.skip(check_backend(name, torch.device("cpu")))
    ref = _rollout(make_backend(model, "eager"))
    got = _rollout(make_backend(model, name))
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


def test_onnx_speculative_multi_frame_graph(model):
    if check_backend("onnx", torch.device("cpu")):
        pytest.skip(check_backend("onnx", torch.device("cpu")))
    ref = _rollout(make_backend(model, "eager"), lookahead=2)
    got = _rollout(make_backend(model, "onnx"), lookahead=2)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)


def test_backend_errors_are_clear(model):
    with pytest.raises(UnknownNameError, match="Did you mean 'onnx'"):
        make_backend(model, "onx")
    with pytest.raises(DependencyNotInstalled, match="needs an NVIDIA GPU"):
        make_backend(model, "tensorrt")
    assert make_backend(model, "auto").name in ("onnx", "eager")


@pytest.mark.gpu
def test_tensorrt_matches_eager_on_gpu(model):
    if check_backend("tensorrt", torch.device("cuda")):
        pytest.skip(check_backend("tensorrt", torch.device("cuda")))
    m = model.cuda()
    ref = _rollout(make_backend(m, "eager"), lookahead=2).cpu()
    got = _rollout(make_backend(m, "tensorrt"), lookahead=2).cpu()
    torch.testing.assert_close(got, ref, rtol=2e-3, atol=2e-3)


@pytest.mark.gpu
def test_compile_with_cuda_graphs_matches_eager(model):
    m = model.cuda()
    ref = _rollout(make_backend(m, "eager")).cpu()
    got = _rollout(make_backend(m, "compile")).cpu()
    torch.testing.assert_close(got, ref, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("history", [0, 1, 2])
def test_onnx_decoder_matches_the_codec(tmp_path, history):
    from worldsim.codec.autoencoder import CodecConfig, FrameCodec

    if check_backend("onnx", torch.device("cpu")):
        pytest.skip(check_backend("onnx", torch.device("cpu")))
    torch.manual_seed(0)
    refiner = dict(refiner_channels=8, refiner_blocks=1, refiner_history=history, refiner_gate=True) if history else {}
    codec = FrameCodec(CodecConfig(channels=(8, 8, 8), decoder_channels=(8, 8, 8), latent_channels=4, **refiner))
    with torch.no_grad():
        for p in codec.parameters():
            p.add_(0.05 * torch.randn_like(p))
    codec.eval()
    backend = make_backend(DynamicsTransformer(preset("tiny", num_actions=4, latent_channels=4)), "onnx", tmp_path)
    decode = backend.decoder(codec)
    assert backend.decoder(codec) is decode  # one per codec: the warm-up's sessions serve play
    z = torch.randn(2, 4, 8, 8)
    prev = torch.rand(2, 3 * max(history, 1), 64, 64) * 2 - 1
    with torch.no_grad():
        for p in (None, prev):
            torch.testing.assert_close(decode(z, p), codec.decode(z, p), rtol=1e-4, atol=1e-4)
    assert len(list(tmp_path.glob("decode-*.onnx"))) == (2 if history else 1)  # without a refiner prev is ignored
    assert make_backend(backend.model, "eager").decoder(codec) == codec.decode
