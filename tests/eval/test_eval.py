import json
import math

import numpy as np
import pytest
import torch

from worldsim.checkpoint import save_checkpoint
from worldsim.data.collect import CollectConfig, collect
from worldsim.data.dataset import Dataset
from worldsim.errors import CheckpointError
from worldsim.eval import HORIZON_BANDS, PSNR_CAP_DB, band_means, psnr, ssim
from worldsim.eval.idm import IDMConfig, InverseDynamics, PairSampler, accuracy, train_idm
from worldsim.eval.report import evaluate_rollouts, format_table, write_report
from worldsim.metrics import gaussian_window, moving, moving_recall

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _frames(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _noisy(x, sigma, seed=1):
    noise = np.random.default_rng(seed).normal(0, sigma, x.shape)
    return np.clip(x + noise, 0, 255).astype(np.uint8)


def _smooth_image(h=32, w=32):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 60 * np.sin(xx / 4), 128 + 60 * np.cos(yy / 5), 40 + 3 * (xx + yy)], -1)
    return img.clip(0, 255).astype(np.uint8)


def _ssim_reference(x, y):
    """Direct per-window SSIM in float64 (no convolution tricks), averaged over positions and channels."""
    g = gaussian_window()
    win = np.outer(g, g)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x, y = x.astype(np.float64), y.astype(np.float64)
    vals = []
    for c in range(3):
        for i in range(x.shape[0] - 10):
            for j in range(x.shape[1] - 10):
                a, b = x[i : i + 11, j : j + 11, c], y[i : i + 11, j : j + 11, c]
                mx, my = (win * a).sum(), (win * b).sum()
                vx, vy = (win * (a - mx) ** 2).sum(), (win * (b - my) ** 2).sum()
                cxy = (win * (a - mx) * (b - my)).sum()
                vals.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


# --- metrics -------------------------------------------------------------------------------------------


def test_psnr_known_values_and_shape():
    x = _frames((2, 3, 16, 16, 3))
    assert psnr(x, x).shape == (2, 3)
    assert np.all(psnr(x, x) == PSNR_CAP_DB)
    base = np.full((4, 8, 8, 3), 100, np.uint8)
    np.testing.assert_allclose(psnr(base + 10, base), 20 * np.log10(255 / 10))
    # All-white vs all-black: MSE 255^2 -> 0 dB.
    np.testing.assert_allclose(psnr(np.zeros((1, 8, 8, 3), np.uint8), np.full((1, 8, 8, 3), 255, np.uint8)), 0.0)


def test_psnr_and_ssim_decrease_with_noise():
    x = np.stack([_smooth_image(), _frames((32, 32, 3))])
    p = [psnr(_noisy(x, s), x) for s in (2, 8, 32)]
    q = [ssim(_noisy(x, s), x) for s in (2, 8, 32)]
    assert np.all(p[0] > p[1]) and np.all(p[1] > p[2])
    assert np.all(q[0] > q[1]) and np.all(q[1] > q[2])
    assert np.all(q[2] > -1) and np.all(q[0] < 1)


def test_ssim_identity_constant_and_reference():
    x = _frames((2, 3, 24, 24, 3))
    out = ssim(x, x)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out, 1.0, atol=1e-9)
    # Flat images: only the luminance term remains, (2ab + C1) / (a^2 + b^2 + C1).
    a, b = np.full((1, 16, 16, 3), 100, np.uint8), np.full((1, 16, 16, 3), 110, np.uint8)
    c1 = (0.01 * 255) ** 2
    np.testing.assert_allclose(ssim(a, b), (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1), rtol=1e-7)
    # Against a direct per-window float64 implementation of Wang et al.
    img = _smooth_image(20, 20)
    noisy = _noisy(img, 20)
    np.testing.assert_allclose(ssim(noisy[None], img[None])[0], _ssim_reference(noisy, img), atol=1e-5)
    np.testing.assert_allclose(ssim(noisy[None], img[None]), ssim(img[None], noisy[None]), atol=1e-9)


def test_metrics_reject_bad_shapes():
    with pytest.raises(ValueError):
        psnr(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError):
        ssim(np.zeros((2, 8, 8), np.uint8), np.zeros((2, 8, 8), np.uint8))


def test_band_means_short_horizons_and_nan():
    assert HORIZON_BANDS["17-64"] == (17, 64)
    table = np.array([[1.0, 2.0, 4.0], [3.0, 4.0, np.nan]])
    assert band_means(table) == {"1": 2.0, "2-4": 10.0 / 3}
    assert band_means(np.arange(1.0, 6.0)) == {"1": 1.0, "2-4": 3.0, "5-16": 5.0}
    full = band_means(np.ones((2, 64)))
    assert list(full) == ["1", "2-4", "5-16", "17-64"]
    assert band_means(np.full((2, 3), np.nan)) == {}
    assert band_means(np.zeros((1, 0))) == {}


# --- inverse dynamics -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A 2000-step toy dataset and an IDM trained on it (shared by the tests below)."""
    root = tmp_path_factory.mktemp("eval") / "ds"
    collect(
        CollectConfig(world="toy", out=str(root), frames=2000, frames_per_shard=500, policy="random"), progress=False
    )
    # A quarter of the episodes for validation: the default 5% would leave a single short episode.
    ds = Dataset(root, val_fraction=0.25)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: thread hand-offs cost more than they save on a busy 2-core box
    try:
        model, metrics = train_idm(ds, steps=300, batch_size=32, lr=2e-3, seed=0, progress=False, channels=(16, 32, 32))
    finally:
        torch.set_num_threads(threads)
    return ds, model, metrics


def test_idm_learns_toy_actions(toy):
    ds, model, m = toy
    assert m["chance"] == pytest.approx(0.2)
    assert m["steps"] == 300 and m["val_pairs"] > 100
    # Pushing into a wall looks like noop, so ~20-25% of random-policy pairs are ambiguous: no 100% here.
    assert m["val_accuracy"] > 0.5
    assert m["val_accuracy"] > m["majority_baseline"] + 0.1
    assert m["majority_baseline"] >= m["train_majority_baseline"]
    assert np.array(m["val_confusion"]).sum() == m["val_pairs"]
    json.dumps(m)  # metrics are JSON-able (stored in checkpoints and reports)
    val = PairSampler(ds, "val")
    a, b, act = val.gather(np.arange(len(val)))
    assert accuracy(model, a, b, act) == pytest.approx(m["val_accuracy"])
    assert math.isnan(accuracy(model, a[:0], b[:0], act[:0]))


def test_idm_checkpoint_round_trip(toy, tmp_path):
    ds, model, metrics = toy
    path = tmp_path / "idm.safetensors"
    model.save(path, metrics=metrics)
    loaded = InverseDynamics.from_checkpoint(path)
    assert loaded.config == model.config
    assert loaded.schema == ds.schema
    assert loaded.meta["metrics"]["val_accuracy"] == metrics["val_accuracy"]
    a, b, _ = PairSampler(ds, "val").gather(np.arange(16))
    np.testing.assert_allclose(loaded.predict_logits(a, b), model.predict_logits(a, b), rtol=1e-5, atol=1e-5)
    save_checkpoint(tmp_path / "other.safetensors", {"w": torch.zeros(1)}, kind="codec")
    with pytest.raises(CheckpointError, match="expected a 'idm'"):
        InverseDynamics.from_checkpoint(tmp_path / "other.safetensors")
    with pytest.raises(ValueError, match="IDM expects"):
        model(torch.zeros(1, 32, 32, 3, dtype=torch.uint8), torch.zeros(1, 32, 32, 3, dtype=torch.uint8))


def test_idm_config_validation():
    with pytest.raises(ValueError):
        IDMConfig(height=4, width=4)
    with pytest.raises(ValueError, match="stride-2 stages"):
        IDMConfig(height=8, width=8)  # four stages would shrink 8 pixels to nothing
    with pytest.raises(ValueError):
        InverseDynamics(IDMConfig(num_actions=3), schema=_schema(5))


def _schema(n):
    from worldsim.actions import ActionSchema

    return ActionSchema.from_names("t", [f"a{i}" for i in range(n)])


# --- reports ---------------------------------------------------------------------------------------------


def _real_windows(ds, episodes=3, horizon=20, seed=0):
    rng = np.random.default_rng(seed)
    wins = [ds.sample_window(rng, horizon + 1, split="val") for _ in range(episodes)]
    frames = np.stack([w.frames for w in wins])
    return (
        frames[:, 0],
        frames[:, 1:],
        np.stack([w.actions for w in wins]).astype(np.int64),
        np.stack([w.rewards for w in wins]),
        np.stack([w.terminated for w in wins]),
    )


def test_evaluate_rollouts_perfect_model_beats_copy_last(toy, tmp_path):
    ds, model, _ = toy
    ctx, real, actions, rewards, term = _real_windows(ds)
    r = evaluate_rollouts(real.copy(), real, ctx, actions, model, rewards, rewards, term.astype(float), term)
    assert list(r["bands"]) == ["1", "2-4", "5-16", "17-64"] and r["bands"]["17-64"] == [17, 20]
    for metric in ("psnr", "ssim"):
        assert set(r[metric]["model"]["bands"]) == set(HORIZON_BANDS)
        assert len(r[metric]["model"]["per_horizon"]) == 20
        assert r[metric]["model"]["mean"] > r[metric]["copy_last"]["mean"]
    assert r["psnr"]["model"]["mean"] == PSNR_CAP_DB and r["ssim"]["model"]["mean"] == pytest.approx(1.0)
    assert r["idm"]["ratio"] == pytest.approx(1.0) and r["idm"]["pairs"] == 60
    assert r["reward"]["mae"] == 0 and r["reward"]["sign_accuracy"] == 1
    assert r["termination"]["accuracy"] == 1
    # A frozen "model" that repeats the context frame is exactly the copy-last baseline.
    frozen = np.broadcast_to(ctx[:, None], real.shape)
    unknown_last = actions.copy()
    unknown_last[:, -1] = -1  # unknown actions are left out of the IDM scores
    r2 = evaluate_rollouts(frozen, real, ctx, unknown_last, model)
    assert r2["psnr"]["model"] == r2["psnr"]["copy_last"]
    assert r2["idm"]["generated_accuracy"] < r2["idm"]["real_accuracy"]
    assert r2["idm"]["pairs"] == 57 and r2["idm"]["real_per_horizon"][-1] is None
    assert r2["reward"] is None and r2["termination"] is None

    json_path, png_path = write_report(r, tmp_path / "report")
    assert json.loads(json_path.read_text())["psnr"]["model"]["bands"]["1"] == PSNR_CAP_DB
    assert png_path.read_bytes()[:8] == PNG_SIGNATURE
    table = format_table(r)
    assert "copy-last" in table and "17-64" in table and "IDM acc generated" in table
    assert "moving recall model" in table and "moving pixels per frame" in table
    assert r["motion"]["ratio"] == pytest.approx(1.0) and r["motion"]["recall"]["model"]["mean"] == 1.0
    assert r2["motion"]["pixels"]["model"]["mean"] == 0  # a frozen world moves nothing
    assert r2["motion"]["recall"]["model"] == r2["motion"]["recall"]["copy_last"]


def test_moving_recall_sees_a_ball_that_whole_frame_psnr_barely_notices():
    field = np.zeros((4, 16, 16, 3), np.uint8)
    for t in range(4):
        field[t, 8, 2 + 3 * t] = (200, 72, 72)  # a one-pixel ball crossing a black field
    prev, real = field[:3], field[1:]
    assert moving(real, prev).sum((-2, -1)).tolist() == [2, 2, 2]  # where it went and where it was
    no_ball = np.zeros_like(real)
    assert psnr(no_ball, real).min() > 29  # the frame is still "good" by PSNR (16x16; 64x64 gives 42 dB)
    assert moving_recall(no_ball, real, prev).tolist() == [0.5, 0.5, 0.5]  # erased right, never drawn
    assert moving_recall(real, real, prev).tolist() == [1.0, 1.0, 1.0]
    stuck = np.broadcast_to(prev[:1], real.shape)  # the ball frozen at its first place
    assert moving_recall(stuck, real, prev)[0] == 0.0
    assert np.isnan(moving_recall(prev, prev, prev)).all()  # nothing moved: undefined, not perfect
    ctx = field[0]
    r = evaluate_rollouts(no_ball[None], real[None], ctx[None], np.zeros((1, 3), int))
    assert r["motion"]["pixels"]["real"]["mean"] == 2 and r["motion"]["ratio"] == pytest.approx(1 / 6)
    assert r["motion"]["recall"]["model"]["mean"] == pytest.approx(0.5)


def test_evaluate_rollouts_synthetic_short_horizon(tmp_path):
    real = _frames((2, 3, 16, 16, 3))
    ctx = _frames((2, 16, 16, 3), seed=5)
    term = np.zeros((2, 3), bool)
    r = evaluate_rollouts(_noisy(real, 10), real, ctx, np.zeros((2, 3), int), None, None, None, np.zeros((2, 3)), term)
    assert list(r["bands"]) == ["1", "2-4"] and r["idm"] is None
    assert r["psnr"]["model"]["bands"]["2-4"] > r["psnr"]["copy_last"]["bands"]["2-4"]
    # No real and no predicted terminations: precision and recall are undefined (None), not NaN.
    assert r["termination"]["precision"] is None and r["termination"]["recall"] is None
    json_path, png_path = write_report(r, tmp_path)
    assert json.loads(json_path.read_text())["termination"]["recall"] is None
    assert png_path.read_bytes()[:8] == PNG_SIGNATURE
    assert "5-16" not in format_table(r)
    with pytest.raises(ValueError, match="last_context"):
        evaluate_rollouts(real, real, ctx[:1], np.zeros((2, 3), int))


def test_codec_ceiling_reads_the_probes_on_the_codec_round_trip(tiny_world):
    from worldsim.assets import resolve_world
    from worldsim.eval.run import codec_ceiling
    from worldsim.sampling.config import HoldConfig
    from worldsim.starts import StartStates
    from worldsim.world_model import WorldModel

    world = WorldModel.load(resolve_world(str(tiny_world)).world, "cpu")
    starts = StartStates.load(resolve_world(str(tiny_world)).starts)
    frames = starts.frames[:3]  # (E, 1 + T, H, W, 3): real frames, the first as the last context frame
    actions = np.zeros((3, frames.shape[1] - 1), np.int64)
    h, w = frames.shape[2:4]
    idm = InverseDynamics(IDMConfig(height=h, width=w, num_actions=len(world.schema)))

    def bright(f: np.ndarray) -> dict[str, np.ndarray]:
        return {"bright": f.astype(float).mean((-3, -2, -1)) > 20}

    plain = codec_ceiling(world, frames, actions, idm, HoldConfig())
    assert "probes" not in plain
    probed = codec_ceiling(world, frames, actions, idm, HoldConfig(), probe=bright)
    real_rate = bright(frames[:, 1:])["bright"].mean()
    assert probed["probes"]["bright"]["rate_real"] == pytest.approx(real_rate)
    assert 0 <= probed["probes"]["bright"]["rate_model"] <= 1 and probed["psnr"] == plain["psnr"]
    calls = []

    def counted(f: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(f.shape)
        return bright(f)

    given = codec_ceiling(world, frames, actions, idm, HoldConfig(), probe=counted, probe_real=bright(frames[:, 1:]))
    assert len(calls) == 1 and given["probes"] == probed["probes"]  # the real frames' reading is not redone
