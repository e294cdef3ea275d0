import os

import pytest

# Headless everywhere: pygame (CarRacing's renderer, the play window) must never need a display in tests.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU; none on this machine")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def load_script():
    """Import ``scripts/NAME.py`` as a module (scripts are not a package): ``load_script("train_agent").main(argv)``."""
    import importlib.util
    from pathlib import Path

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> "Path":  # noqa: F821 - imported lazily to keep collection light
    """A random-weight ``toy`` world (tiny preset) with real start states, as ``DIR/world.safetensors``.

    Speed and plumbing tests use it (the Gym env, play, rollouts, the simulator); quality tests train their own.
    """
    import torch

    from worldsim.codec.autoencoder import CodecConfig, FrameCodec
    from worldsim.data.collect import CollectConfig, collect
    from worldsim.data.dataset import Dataset
    from worldsim.model.dynamics import DynamicsTransformer, preset
    from worldsim.sampling.config import SamplingConfig
    from worldsim.sources import make_world
    from worldsim.starts import StartStates
    from worldsim.world_model import WorldModel

    root = tmp_path_factory.mktemp("tiny_world")
    collect(CollectConfig(world="toy", out=str(root / "ds"), frames=400, frames_per_shard=200, seed=1), progress=False)
    torch.manual_seed(0)
    codec = FrameCodec(CodecConfig(channels=(8, 8, 8), decoder_channels=(8, 8, 8), latent_channels=4))
    dyn = DynamicsTransformer(preset("tiny", num_actions=5, latent_channels=4))
    with torch.no_grad():  # adaLN-Zero starts at zero: perturb so outputs depend on inputs and actions
        for p in dyn.parameters():
            p.add_(0.05 * torch.randn_like(p))
    world = WorldModel(codec, dyn, make_world("toy").schema, SamplingConfig(steps=2), {"fps": 30})
    world.save(root / "world.safetensors")
    StartStates.from_dataset(Dataset(root / "ds"), count=16, frames=4, seed=0).save(root / "starts.safetensors")
    return root
