import pytest
import torch

from worldsim.errors import UnknownNameError
from worldsim.model.dynamics import DynamicsTransformer, preset


def _model(**kw) -> DynamicsTransformer:
    torch.manual_seed(0)
    cfg = preset("tiny", num_actions=5, latent_channels=4, latent_height=4, latent_width=4, **kw)
    m = DynamicsTransformer(cfg).eval()
    # Zero-init makes a fresh model constant; perturb every weight so the tests see real information flow.
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m


def _inputs(b=2, f=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, f, 4, 4, 4, generator=g),
        torch.rand(b, f, generator=g),
        torch.randint(0, 6, (b, f), generator=g),
    )


def test_fresh_model_predicts_zero_velocity():
    torch.manual_seed(0)
    m = DynamicsTransformer(preset("tiny", num_actions=3, latent_channels=4, latent_height=4, latent_width=4))
    x, t, a = _inputs()
    a = a.clamp(max=3)
    assert torch.count_nonzero(m(x, t, a)["v"]) == 0


def test_fresh_block_is_identity():
    torch.manual_seed(0)
    m = DynamicsTransformer(preset("tiny", num_actions=3, latent_channels=4, latent_height=4, latent_width=4))
    h = torch.randn(2, 3, 16, 64)
    c = torch.randn(2, 3, 64)
    cos, sin = m.rope(3)
    out, _ = m.blocks[0](h, c, cos, sin, m.block_causal_mask(3))
    assert torch.equal(out, h)


def test_frames_do_not_see_the_future():
    m = _model()
    x, t, a = _inputs()
    base = m(x, t, a)
    k = 2
    x2, t2, a2 = x.clone(), t.clone(), a.clone()
    x2[:, k + 1 :] += torch.randn_like(x2[:, k + 1 :])
    t2[:, k + 1 :] = torch.rand_like(t2[:, k + 1 :])
    a2[:, k + 1 :] = (a2[:, k + 1 :] + 1) % 6
    out = m(x2, t2, a2)
    for key in ("v", "reward", "term_logit"):
        torch.testing.assert_close(out[key][:, : k + 1], base[key][:, : k + 1], rtol=0, atol=1e-5)
        assert not torch.allclose(out[key][:, k + 1 :], base[key][:, k + 1 :])


def test_frames_see_the_past_and_their_own_frame_bidirectionally():
    m = _model()
    x, t, a = _inputs()
    base = m(x, t, a)["v"]
    x2 = x.clone()
    x2[:, 1] += 1.0
    changed = m(x2, t, a)["v"]
    assert torch.allclose(changed[:, 0], base[:, 0], atol=1e-6)
    assert not torch.allclose(changed[:, 2], base[:, 2], atol=1e-4)  # later frames see frame 1
    x3 = x.clone()
    x3[:, 3, :, -1, -1] += 1.0  # last token of frame 3
    within = m(x3, t, a)["v"]
    assert not torch.allclose(within[:, 3, :, 0, 0], base[:, 3, :, 0, 0], atol=1e-4)  # first token sees it


def test_action_conditions_its_frame_and_later_ones():
    m = _model()
    x, t, a = _inputs()
    base = m(x, t, a)["v"]
    a2 = a.clone()
    a2[:, 2] = (a2[:, 2] + 1) % 6
    out = m(x, t, a2)["v"]
    assert torch.allclose(out[:, :2], base[:, :2], atol=1e-6)
    assert not torch.allclose(out[:, 2], base[:, 2], atol=1e-4)


def test_positions_are_relative():
    m = _model()
    x, t, a = _inputs()
    torch.testing.assert_close(m(x, t, a)["v"], m(x, t, a, first_frame=37)["v"], rtol=1e-4, atol=1e-4)


def test_patchify_round_trip_and_patch_size_two():
    m = _model(patch_size=2)
    x, t, a = _inputs()
    assert m.cfg.tokens_per_frame == 4
    assert torch.equal(m.unpatchify(m.patchify(x)), x)
    assert m(x, t, a)["v"].shape == x.shape


def test_window_longer_than_context_is_rejected():
    m = _model()
    x, t, a = _inputs(f=7)
    with pytest.raises(ValueError, match="exceeds context_frames=6"):
        m(x, t, a)


def test_presets_and_paper_scale():
    with pytest.raises(UnknownNameError, match="Did you mean 'small'"):
        preset("smal")
    cfg = preset("nfd-310m", num_actions=7)
    assert cfg.tokens_per_frame == 336 and cfg.context_frames == 32
    with torch.device("meta"):
        n = DynamicsTransformer(cfg).num_params()
    assert 280e6 < n < 340e6


def test_teacher_forced_frames_see_only_the_clean_frames_before_them():
    # Frame i of a teacher-forced pass must get what the sampler gives it after committing clean frames 0..i-1.
    m = _model()
    x, t, a = _inputs(f=4)
    clean, t_clean, _ = _inputs(f=4, seed=2)
    t_clean = 0.1 * t_clean
    tf = m(x, t, a, clean=clean, t_clean=t_clean)
    for i in range(4):
        ref = m(
            torch.cat([clean[:, :i], x[:, i : i + 1]], 1),
            torch.cat([t_clean[:, :i], t[:, i : i + 1]], 1),
            a[:, : i + 1],
        )
        torch.testing.assert_close(tf["v"][:, i], ref["v"][:, i], rtol=1e-4, atol=1e-5)
    plain = m(clean, t_clean, a)  # the heads read the clean frames, as the commit pass does
    torch.testing.assert_close(tf["reward"], plain["reward"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(tf["term_logit"], plain["term_logit"], rtol=1e-4, atol=1e-5)
    x2 = x.clone()
    x2[:, 1] += 1.0  # another noisy frame: invisible to the rest
    tf2 = m(x2, t, a, clean=clean, t_clean=t_clean)
    torch.testing.assert_close(tf2["v"][:, [0, 2, 3]], tf["v"][:, [0, 2, 3]], rtol=0, atol=1e-6)
