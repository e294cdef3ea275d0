"""Classifier-free guidance on the action, in both samplers and through the world defaults."""

from __future__ import annotations

import pytest
import torch

from tests.model.test_cached import _model
from worldsim.sampling.cached import CachedSampler
from worldsim.sampling.config import GuidanceConfig, SamplingConfig
from worldsim.sampling.schedule import guided
from worldsim.sampling.window import WindowSampler


def _rollout(sampler_cls, m, actions, guidance, seed=5, parallel=1.0):
    ctx = torch.randn(3, 2, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    ctx_a = torch.randint(0, 4, (3, 2), generator=torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(seed)
    s = sampler_cls(m, SamplingConfig(3, 0.05, GuidanceConfig(guidance, parallel)), g)
    state = s.start(ctx, ctx_a)
    frames = []
    for i in range(actions.shape[1]):
        state, out = s.step(state, actions[:, i])
        frames.append(out["latent"])
    return torch.stack(frames, 1)


def test_guided_extrapolates_from_the_null_prediction():
    v, v_null = torch.tensor([3.0]), torch.tensor([1.0])
    assert guided(v, v_null, 1.0).item() == 3.0
    assert guided(v, v_null, 0.0).item() == 1.0
    assert guided(v, v_null, 2.0).item() == 5.0


def test_projected_guidance_drops_the_update_along_the_conditional_prediction():
    gen = torch.Generator().manual_seed(0)
    x, v, v_null = (torch.randn(2, 3, 4, 4, 4, generator=gen) for _ in range(3))
    t = torch.tensor(0.75)
    torch.testing.assert_close(guided(v, v_null, 2.0, 1.0, x, t), guided(v, v_null, 2.0))  # 1 = plain guidance
    x0, x0_null = x - t * v, x - t * v_null
    x0_projected = x - t * guided(v, v_null, 2.0, 0.0, x, t)
    change = x0_projected - x0  # what guidance adds to the conditional clean frame
    along = (change * x0).sum((-3, -2, -1))  # per frame: orthogonal to that frame's prediction
    torch.testing.assert_close(along, torch.zeros_like(along), atol=1e-4, rtol=0)
    orthogonal_part = (x0 - x0_null) - ((x0 - x0_null) * x0).sum((-3, -2, -1), keepdim=True) * x0 / (x0 * x0).sum(
        (-3, -2, -1), keepdim=True
    )
    torch.testing.assert_close(change, orthogonal_part, rtol=1e-4, atol=1e-5)
    # a null prediction that only scales the clean frame is all "parallel": projected guidance leaves v alone
    scaled_null = (x - 0.5 * x0) / t
    torch.testing.assert_close(guided(v, scaled_null, 3.0, 0.0, x, t), v, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="needs the sample"):
        guided(v, v_null, 2.0, 0.0)


@pytest.mark.parametrize("sampler_cls", [WindowSampler, CachedSampler])
def test_guidance_zero_is_the_null_action_and_one_is_plain(sampler_cls):
    m = _model()
    actions = torch.randint(0, 4, (3, 3), generator=torch.Generator().manual_seed(3))
    null = torch.full_like(actions, m.cfg.null_action)
    # Scale 0 denoises with the null action only; the committed frames still carry the real action, so compare
    # only the first generated frame, which the commit has not touched yet.
    zero = _rollout(sampler_cls, m, actions, 0.0)[:, 0]
    unconditioned = _rollout(sampler_cls, m, null, 1.0)[:, 0]
    torch.testing.assert_close(zero, unconditioned, rtol=1e-4, atol=1e-5)
    plain = _rollout(sampler_cls, m, actions, 1.0)
    assert not torch.allclose(_rollout(sampler_cls, m, actions, 2.0), plain, atol=1e-3)


def test_cached_guidance_equals_uncached_guidance():
    m = _model()
    actions = torch.randint(0, 4, (3, m.cfg.context_frames - 2), generator=torch.Generator().manual_seed(4))
    window = _rollout(WindowSampler, m, actions, 2.5)
    cached = _rollout(CachedSampler, m, actions, 2.5)
    torch.testing.assert_close(cached, window, rtol=1e-4, atol=1e-4)
    window = _rollout(WindowSampler, m, actions, 2.5, parallel=0.0)
    torch.testing.assert_close(_rollout(CachedSampler, m, actions, 2.5, parallel=0.0), window, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(window, cached, atol=1e-3)  # the projection changes the frames


def test_speculative_frames_under_guidance_equal_plain_generation():
    m = _model()
    held = torch.full((3, 4), 2)  # one action held: every speculative frame is accepted
    ctx = torch.randn(3, 2, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    ctx_a = torch.randint(0, 4, (3, 2), generator=torch.Generator().manual_seed(2))
    recipe = SamplingConfig(3, 0.05, GuidanceConfig(2.0))
    s = CachedSampler(m, recipe, torch.Generator().manual_seed(5))
    state = s.start(ctx, ctx_a)
    state, outs = s.step_chunk(state, held)
    joint = torch.stack([o["latent"] for o in outs], 1)
    s2 = CachedSampler(m, recipe, torch.Generator().manual_seed(5), lookahead=3)
    state2 = s2.start(ctx, ctx_a)
    spec = []
    for i in range(held.shape[1]):
        state2, out = s2.step(state2, held[:, i])
        spec.append(out["latent"])
    assert state2.accepted == 3
    torch.testing.assert_close(torch.stack(spec, 1), joint, rtol=1e-4, atol=1e-5)


def test_world_default_guidance_round_trips_and_drives_the_simulator(tiny_world, tmp_path):
    from dataclasses import replace

    from worldsim.sampling.simulator import Simulator
    from worldsim.world_model import WorldModel

    world = WorldModel.load(tiny_world / "world.safetensors")
    assert world.sampling.guidance == GuidanceConfig()  # files written before guidance existed load unguided
    world.sampling = replace(world.sampling, guidance=GuidanceConfig(2.0))
    world.save(tmp_path / "guided.safetensors")
    guided_world = WorldModel.load(tmp_path / "guided.safetensors")
    assert guided_world.sampling.guidance.scale == 2.0
    assert Simulator(guided_world).sampling.guidance.scale == 2.0
    assert Simulator(guided_world, sampling={"guidance": {"scale": 1.0}}).sampling.guidance.scale == 1.0
    assert (
        Simulator(guided_world, sampling={"guidance.scale": 0}).sampling.guidance.scale == 0.0
    )  # 0 is a value, not "unset"
    assert guided_world.sampling.guidance.parallel == 1.0  # files from before projected guidance: plain guidance
    world.sampling = replace(world.sampling, guidance=GuidanceConfig(2.0, 0.0))
    world.save(tmp_path / "projected.safetensors")
    projected = WorldModel.load(tmp_path / "projected.safetensors")
    assert Simulator(projected).sampling.guidance == GuidanceConfig(2.0, 0.0)
    assert Simulator(projected, sampling=["guidance.parallel=0.5"]).sampling.guidance == GuidanceConfig(2.0, 0.5)
    with pytest.raises(ValueError, match="guidance parallel must be in"):
        GuidanceConfig(2.0, 1.5)
