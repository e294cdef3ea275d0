import torch

from worldsim.model.dynamics import DynamicsTransformer, KVCache, preset
from worldsim.sampling.cached import CachedSampler
from worldsim.sampling.config import SamplingConfig
from worldsim.sampling.window import WindowSampler


def _model(**kw):
    torch.manual_seed(0)
    cfg = preset("tiny", num_actions=4, latent_channels=4, latent_height=4, latent_width=4, **kw)
    m = DynamicsTransformer(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


def test_cached_forward_equals_full_window():
    m = _model()
    g = torch.Generator().manual_seed(0)
    x, t, a = torch.randn(2, 5, 4, 4, 4, generator=g), torch.rand(2, 5, generator=g), torch.randint(0, 5, (2, 5))
    full = m(x, t, a)
    cache = KVCache(m.cfg, 2)
    pos = torch.zeros(2, dtype=torch.long)
    m.forward_cached(x[:, :3], t[:, :3], a[:, :3], pos, cache, commit=True)  # 3 frames in one call
    out = m.forward_cached(x[:, 3:], t[:, 3:], a[:, 3:], pos + 3, cache)  # then 2 more against the cache
    for key in ("v", "reward", "term_logit"):
        torch.testing.assert_close(out[key], full[key][:, 3:], rtol=1e-4, atol=1e-5)


def test_cached_generation_equals_uncached_within_the_window():
    m = _model()
    ctx = torch.randn(3, 2, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    ctx_a = torch.randint(0, 4, (3, 2))
    actions = torch.randint(0, 4, (3, m.cfg.context_frames - 2))
    outs = []
    for sampler_cls in (WindowSampler, CachedSampler):
        s = sampler_cls(m, SamplingConfig(3, 0.05), torch.Generator().manual_seed(5))
        state = s.start(ctx, ctx_a)
        frames = []
        for i in range(actions.shape[1]):
            state, out = s.step(state, actions[:, i])
            frames.append(torch.cat([out["latent"].flatten(1), out["reward"][:, None], out["term_prob"][:, None]], 1))
        outs.append(torch.stack(frames, 1))
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-4, atol=1e-4)


def test_ring_buffer_keeps_memory_flat_and_streams_independent():
    m = _model()
    s = CachedSampler(m, SamplingConfig(1), torch.Generator().manual_seed(0))
    state = s.start(torch.randn(2, 2, 4, 4, 4), torch.zeros(2, 2, dtype=torch.long))
    sizes = {tuple(k.shape) for k in state.cache.k}
    for _ in range(3 * m.cfg.context_frames):
        state, out = s.step(state, torch.tensor([1, 2]))
        assert torch.isfinite(out["latent"]).all()
    assert {tuple(k.shape) for k in state.cache.k} == sizes
    assert int(state.positions[0]) == 2 + 3 * m.cfg.context_frames
    # every cached frame is within the last `context_frames` frames
    assert (state.cache.slot_frame >= state.positions[:, None] - m.cfg.context_frames).all()


def test_batched_streams_match_single_streams():
    m = _model()
    ctx = torch.randn(2, 2, 4, 4, 4, generator=torch.Generator().manual_seed(3))
    ctx_a = torch.randint(0, 4, (2, 2))
    cache = KVCache(m.cfg, 2)
    pos = torch.zeros(2, dtype=torch.long)
    m.forward_cached(ctx, torch.full((2, 2), 0.05), ctx_a, pos, cache, commit=True)
    x = torch.randn(2, 1, 4, 4, 4)
    both = m.forward_cached(x, torch.full((2, 1), 0.5), torch.tensor([[1], [3]]), pos + 2, cache)["v"]
    for b in range(2):
        single = KVCache(m.cfg, 1)
        p0 = torch.zeros(1, dtype=torch.long)
        m.forward_cached(ctx[b : b + 1], torch.full((1, 2), 0.05), ctx_a[b : b + 1], p0, single, commit=True)
        one = m.forward_cached(
            x[b : b + 1], torch.full((1, 1), 0.5), torch.tensor([[1, 3][b]])[:, None], p0 + 2, single
        )
        torch.testing.assert_close(one["v"], both[b : b + 1], rtol=1e-4, atol=1e-5)


def test_tiled_cache_repeats_each_streams_context_in_a_copy():
    m = _model()
    cache = KVCache(m.cfg, 2)
    pos = torch.zeros(2, dtype=torch.long)
    m.forward_cached(
        torch.randn(2, 2, 4, 4, 4), torch.full((2, 2), 0.05), torch.randint(0, 4, (2, 2)), pos, cache, True
    )
    tiled = cache.tiled(3)
    assert tiled.batch == 6 and tiled.slot_frame.shape == (6, m.cfg.context_frames)
    x, t, a = torch.randn(2, 1, 4, 4, 4), torch.full((2, 1), 0.5), torch.tensor([[1], [3]])
    one = m.forward_cached(x, t, a, pos + 2, cache)["v"]
    three = m.forward_cached(x.repeat(3, 1, 1, 1, 1), t.repeat(3, 1), a.repeat(3, 1), (pos + 2).repeat(3), tiled)["v"]
    for i in range(3):
        torch.testing.assert_close(three[2 * i : 2 * i + 2], one, rtol=1e-4, atol=1e-5)
    m.forward_cached(x.repeat(3, 1, 1, 1, 1), t.repeat(3, 1), a.repeat(3, 1), (pos + 2).repeat(3), tiled, commit=True)
    assert (cache.slot_frame < 2).all(), "writing to the tiled copy must leave the original cache alone"


def _spec_setup(lookahead):
    m = _model()
    ctx = torch.randn(2, 2, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    ctx_a = torch.randint(0, 4, (2, 2))
    s = CachedSampler(m, SamplingConfig(2), torch.Generator().manual_seed(9), lookahead=lookahead)
    return s, s.start(ctx, ctx_a)


def test_accepted_speculative_frames_equal_non_speculative_generation():
    # Real actions: held for 3 frames, then changed. Speculation (lookahead 3) accepts frames 2 and 3 and must
    # discard frame 4's guess.
    real = torch.tensor([[1, 1, 1, 2], [3, 3, 3, 0]])
    s, state = _spec_setup(3)
    spec = []
    for j in range(3):
        state, out = s.step(state, real[:, j])
        spec.append(out)
    assert [bool(o["accepted"]) for o in spec] == [False, True, True]
    ref_s, ref_state = _spec_setup(0)
    _, ref = ref_s.step_chunk(ref_state, real)  # same noise, real actions, nothing speculative
    for j in range(3):
        for key in ("latent", "reward", "term_prob"):
            torch.testing.assert_close(spec[j][key], ref[j][key], rtol=1e-5, atol=1e-5)
    state, out = s.step(state, real[:, 3])  # action changed: the guess is discarded, the frame generated
    assert not bool(out["accepted"]) and s.acceptance_rate(state) == 0.5
    assert int(state.positions[0]) == 2 + 4


def test_speculation_disabled_never_accepts():
    s, state = _spec_setup(0)
    for _ in range(3):
        state, out = s.step(state, torch.tensor([1, 1]))
        assert not bool(out["accepted"])
    assert s.acceptance_rate(state) == 0.0
