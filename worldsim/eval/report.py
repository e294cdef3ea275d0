"""Rollout evaluation reports: frame quality by horizon, action following, reward and termination heads.

The world model's rollout is produced elsewhere; this module scores arrays. For each of ``E`` evaluation
episodes the model saw some real context frames, then generated ``T`` frames under the recorded actions,
and is compared with the ``T`` real frames that followed. Horizon ``h`` (1-based) is the ``h``-th generated
frame. The *copy-last* baseline predicts the last context frame for every horizon: a model that cannot beat
it has learned nothing about motion.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from worldsim.eval.idm import InverseDynamics
from worldsim.io import atomic_write_bytes, atomic_write_json
from worldsim.metrics import (
    HORIZON_BANDS,
    MOTION_THRESHOLD,
    band_means,
    finite_mean,
    moving,
    psnr,
    recall_at,
    reward_scores,
    ssim,
    termination_scores,
)

REPORT_JSON = "eval.json"
REPORT_PNG = "eval.png"


def _summary(table: np.ndarray) -> dict[str, Any]:
    """Mean, per-band means and per-horizon means (over episodes) of an ``[E, T]`` table."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a horizon with no finite entry is NaN, on purpose
        per_h = np.nanmean(table, axis=0)
    return {
        "mean": finite_mean(table),
        "bands": band_means(table),
        "per_horizon": per_h.tolist(),
    }


def _json_safe(obj: Any) -> Any:
    """Copy of ``obj`` with numpy scalars made Python and NaN/inf floats made ``None`` (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 and math.isfinite(a) else math.nan


def evaluate_rollouts(
    generated: np.ndarray,
    real: np.ndarray,
    last_context: np.ndarray,
    actions: np.ndarray,
    idm: InverseDynamics | None = None,
    pred_reward: np.ndarray | None = None,
    real_reward: np.ndarray | None = None,
    pred_term_prob: np.ndarray | None = None,
    real_term: np.ndarray | None = None,
    reward_zero_tol: float = 0.01,
    probe: Any = None,
    probe_real: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Score generated rollouts against the recorded continuation.

    Args:
        generated: Model frames, uint8 ``[E, T, H, W, 3]``.
        real: Recorded frames at the same steps, uint8 ``[E, T, H, W, 3]``.
        last_context: Last real frame the model saw before generating, uint8 ``[E, H, W, 3]``.
        actions: ``[E, T]`` action ids; ``actions[:, t]`` produced frame ``t`` (from frame ``t - 1``, or from
            ``last_context`` for ``t = 0``). Negative ids (unknown) are left out of the IDM scores.
        idm: Inverse-dynamics model for action following, trained on real data of the same world; skipped
            when ``None``.
        pred_reward: Predicted reward per step ``[E, T]`` (with ``real_reward``), or ``None``.
        real_reward: Recorded reward per step ``[E, T]``.
        pred_term_prob: Predicted termination probability per step ``[E, T]`` (with ``real_term``), or ``None``.
        real_term: Recorded ``terminated`` flags ``[E, T]``.
        reward_zero_tol: Rewards with ``|r| <= tol`` count as zero for the sign accuracy.
        probe: The world's state probe (:data:`worldsim.probes.PROBES`), read on generated and real frames alike;
            ``probes`` in the result (see :func:`probe_scores`), or ``None`` without one.
        probe_real: ``probe(real)`` when the caller has read it already (the detector of a world is not free).

    Returns:
        A JSON-safe dict (``None`` where a value is undefined, e.g. precision with no predicted positives):
        ``episodes``, ``horizon``, ``height``, ``width``, ``bands`` (covered bands ``[first, last]``);
        ``psnr`` and ``ssim``, each ``{"model": S, "copy_last": S}`` with ``S = {"mean", "bands",
        "per_horizon"}``; ``idm`` (``generated_accuracy``, ``real_accuracy``, ``ratio`` = generated / real,
        per-band and per-horizon accuracies, ``chance``) or ``None``; ``reward`` (``mae``,
        ``mae_zero_baseline``, ``sign_accuracy``, ``mae_bands``) or ``None``; ``termination`` (``accuracy``,
        ``precision``, ``recall`` at threshold 0.5, counts) or ``None``; ``motion`` (see :func:`motion_scores`).
    """
    generated, real = np.asarray(generated), np.asarray(real)
    last_context, actions = np.asarray(last_context), np.asarray(actions)
    if generated.ndim != 5 or generated.shape[-1] != 3:
        raise ValueError(f"generated must be [E, T, H, W, 3], got shape {generated.shape}")
    if real.shape != generated.shape:
        raise ValueError(f"real must match generated {generated.shape}, got {real.shape}")
    e, t, h, w, _ = generated.shape
    if last_context.shape != (e, h, w, 3):
        raise ValueError(f"last_context must be {(e, h, w, 3)}, got {last_context.shape}")
    if actions.shape != (e, t):
        raise ValueError(f"actions must be {(e, t)}, got {actions.shape}")
    if t < 1 or e < 1:
        raise ValueError(f"need at least one episode and one generated frame, got E={e}, T={t}")

    copy_last = np.broadcast_to(last_context[:, None], real.shape)
    result: dict[str, Any] = {
        "episodes": e,
        "horizon": t,
        "height": h,
        "width": w,
        "bands": {name: [lo, min(hi, t)] for name, (lo, hi) in HORIZON_BANDS.items() if lo <= t},
        "psnr": {"model": _summary(psnr(generated, real)), "copy_last": _summary(psnr(copy_last, real))},
        "ssim": {"model": _summary(ssim(generated, real)), "copy_last": _summary(ssim(copy_last, real))},
        "idm": _idm_scores(idm, generated, real, last_context, actions) if idm is not None else None,
        "motion": motion_scores(generated, real, last_context),
        "reward": None,
        "termination": None,
    }
    if pred_reward is not None and real_reward is not None:
        result["reward"] = _reward_scores(np.asarray(pred_reward), np.asarray(real_reward), (e, t), reward_zero_tol)
    if pred_term_prob is not None and real_term is not None:
        result["termination"] = _termination_scores(np.asarray(pred_term_prob), np.asarray(real_term), (e, t))
    if probe is not None:
        result["probes"] = probe_scores(probe(generated), probe_real if probe_real is not None else probe(real))
    else:
        result["probes"] = None
    return _json_safe(result)


def probe_scores(gen: dict[str, np.ndarray], real: dict[str, np.ndarray]) -> dict[str, Any]:
    """Compare what the probes read on generated and real frames (``[E, T]`` each), per horizon band.

    A yes/no probe (the ball is there, the car is on the road) gives its rate in both, their agreement and the
    model's recall of the frames where the real one shows it; a
    number (speed, paddle x) gives the mean absolute difference where both are defined. A ball's position
    (``ball_y``/``ball_x``) gives the distance between the two balls where both frames show one.
    """
    out: dict[str, Any] = {}
    for key, g in gen.items():
        r = real[key]
        if key in ("ball_y", "ball_x"):
            continue
        if g.dtype == bool:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                rate_g, rate_r = float(g.mean()), float(r.mean())
            out[key] = {
                "rate_model": rate_g,
                "rate_real": rate_r,
                "ratio": _ratio(rate_g, rate_r),
                "agreement": _summary((g == r).astype(np.float64)),
                # Of the frames where the real one shows it, the share where the model's does too.
                "recall": _summary(np.where(r, g, np.nan).astype(np.float64)),
            }
        else:
            out[key] = {"abs_error": _summary(np.abs(g.astype(np.float64) - r))}
    if "ball_y" in gen:
        both = gen["ball_present"] & real["ball_present"]
        dist = np.hypot(gen["ball_y"] - real["ball_y"], gen["ball_x"] - real["ball_x"])
        out["ball_position_error"] = _summary(np.where(both, dist, np.nan))
        # Issue 26's bar: the share of those frames where the two balls are within 2 pixels (a mean is pulled up by
        # the few balls drawn far away).
        out["ball_within_2px"] = _summary(np.where(both, dist <= 2.0, np.nan).astype(np.float64))
        # Recall of the real ball: of the frames where the real ball is there, the share where the model draws one.
        out["ball_recall"] = _summary(np.where(real["ball_present"], gen["ball_present"], np.nan).astype(np.float64))
    return out


def motion_scores(
    generated: np.ndarray, real: np.ndarray, last_context: np.ndarray, threshold: float = MOTION_THRESHOLD
) -> dict[str, Any]:
    """How well rollouts ``[E, T, H, W, 3]`` keep what moves: small objects that whole-frame PSNR overlooks.

    Returns ``threshold``; ``pixels``: moving pixels per frame (changed since the frame before, the first against
    ``last_context``) as ``{"real": S, "model": S}`` and their ``ratio`` model / real (under 1: things stopped
    moving or vanished; over 1: flicker); ``recall``: the share of the real frame's moving pixels the frame
    shows (:func:`~worldsim.metrics.moving_recall`), ``{"model": S, "copy_last": S}``.
    """
    real_prev = np.concatenate([last_context[:, None], real[:, :-1]], 1)
    gen_prev = np.concatenate([last_context[:, None], generated[:, :-1]], 1)
    real_moving = moving(real, real_prev, threshold)  # (E, T, H, W), shared by both recalls
    real_px = real_moving.sum((-2, -1)).astype(np.float64)
    gen_px = moving(generated, gen_prev, threshold).sum((-2, -1)).astype(np.float64)
    copy_last = np.broadcast_to(last_context[:, None], real.shape)
    return {
        "threshold": threshold,
        "pixels": {"real": _summary(real_px), "model": _summary(gen_px)},
        "ratio": _ratio(float(gen_px.mean()), float(real_px.mean())),
        "recall": {
            "model": _summary(recall_at(generated, real, real_moving, threshold)),
            "copy_last": _summary(recall_at(copy_last, real, real_moving, threshold)),
        },
    }


def _idm_scores(
    idm: InverseDynamics, generated: np.ndarray, real: np.ndarray, last_context: np.ndarray, actions: np.ndarray
) -> dict[str, Any]:
    e, t, h, w, _ = generated.shape
    if (idm.config.height, idm.config.width) != (h, w):
        raise ValueError(
            f"the IDM was trained on {idm.config.height}x{idm.config.width} frames but the rollouts are {h}x{w}; "
            "train an IDM on data of this resolution"
        )
    if actions.size and actions.max() >= idm.config.num_actions:
        raise ValueError(f"action id {int(actions.max())} is out of range for an IDM with {idm.config.num_actions}")
    first = last_context[:, None]

    def correct(frames: np.ndarray) -> np.ndarray:
        # Pair t is (frame t-1 -> frame t); frame -1 is the last context frame.
        prev = np.concatenate([first, frames[:, :-1]], axis=1)
        pred = idm.predict(prev.reshape(-1, h, w, 3), frames.reshape(-1, h, w, 3)).reshape(e, t)
        return np.where(actions >= 0, (pred == actions).astype(np.float64), np.nan)

    gen, rea = _summary(correct(generated)), _summary(correct(real))
    return {
        "generated_accuracy": gen["mean"],
        "real_accuracy": rea["mean"],
        "ratio": _ratio(gen["mean"], rea["mean"]),
        "generated_bands": gen["bands"],
        "real_bands": rea["bands"],
        "generated_per_horizon": gen["per_horizon"],
        "real_per_horizon": rea["per_horizon"],
        "chance": 1.0 / idm.config.num_actions,
        "pairs": int((actions >= 0).sum()),
    }


def _reward_scores(pred: np.ndarray, real: np.ndarray, shape: tuple[int, int], tol: float) -> dict[str, Any]:
    if pred.shape != shape or real.shape != shape:
        raise ValueError(f"pred_reward and real_reward must be {shape}, got {pred.shape} and {real.shape}")
    pred, real = pred.astype(np.float64), real.astype(np.float64)
    err = np.abs(pred - real)

    def sign(x: np.ndarray) -> np.ndarray:
        return np.where(np.abs(x) <= tol, 0, np.sign(x))

    # Returns over each window: what RL and policy ranking add up. An event predicted a frame early or late costs
    # twice its size per step, and nothing here.
    ret_pred, ret_real = pred.sum(axis=1), real.sum(axis=1)
    return {
        **reward_scores(pred, real),
        "return_mae": float(np.abs(ret_pred - ret_real).mean()),
        "return_mae_zero_baseline": float(np.abs(ret_real).mean()),
        "sign_accuracy": float(np.mean(sign(pred) == sign(real))),
        "zero_tolerance": tol,
        "mae_bands": band_means(err),
        "nonzero_steps": int((np.abs(real) > tol).sum()),
    }


def _termination_scores(prob: np.ndarray, real: np.ndarray, shape: tuple[int, int]) -> dict[str, Any]:
    if prob.shape != shape or real.shape != shape:
        raise ValueError(f"pred_term_prob and real_term must be {shape}, got {prob.shape} and {real.shape}")
    return termination_scores(prob, real)


def write_report(result: dict[str, Any], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``eval.json`` and ``eval.png`` (PSNR/SSIM vs horizon, model vs copy-last) into ``out_dir``.

    Returns:
        ``(json_path, png_path)``. Both files are written atomically.
    """
    out = Path(out_dir)
    json_path, png_path = out / REPORT_JSON, out / REPORT_PNG
    atomic_write_json(json_path, _json_safe(result))
    atomic_write_bytes(png_path, _plot(result))
    return json_path, png_path


def _plot(result: dict[str, Any]) -> bytes:
    # Figure + Agg canvas, not pyplot: no global backend state, never needs a display, safe in threads.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    idm = result.get("idm")
    panels = [("PSNR (dB)", "psnr"), ("SSIM", "ssim")] + ([("IDM action accuracy", "idm")] if idm else [])
    fig = Figure(figsize=(5 * len(panels), 4), dpi=100)
    FigureCanvasAgg(fig)
    t = int(result["horizon"])
    x = np.arange(1, t + 1)
    for k, (title, key) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        for i, (name, (lo, hi)) in enumerate(result["bands"].items()):
            if i % 2 == 0:
                ax.axvspan(lo - 0.5, hi + 0.5, color="0.9", zorder=0)
            ax.text((lo + hi) / 2, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom", size=8)
        if key == "idm":
            series = [("generated", idm["generated_per_horizon"]), ("real", idm["real_per_horizon"])]
            ax.axhline(idm["chance"], color="0.5", linestyle=":", label="chance")
        else:
            series = [
                ("model", result[key]["model"]["per_horizon"]),
                ("copy-last", result[key]["copy_last"]["per_horizon"]),
            ]
        for label, values in series:
            y = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            ax.plot(x, y, marker="o" if t <= 16 else None, markersize=3, label=label)
        if t >= 8:
            ax.set_xscale("log", base=2)  # bands grow geometrically; a log axis gives each room
            ticks = [v for v in (1, 2, 4, 8, 16, 32, 64, 128, 256) if v <= t]
            ax.set_xticks(ticks, [str(v) for v in ticks])
            ax.minorticks_off()
        ax.set_xlim(0.5, t + 0.5)
        if key == "idm":
            ax.set_ylim(0, 1.02)
        ax.set_xlabel("horizon (frames after context)")
        ax.set_title(title, pad=14)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{result['episodes']} episodes, {result['height']}x{result['width']}", size=9, y=0.99)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def fmt_number(v: Any, digits: int) -> str:
    """``v`` with ``digits`` decimals, or ``-`` when it is undefined (None, NaN, infinite)."""
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


_fmt = fmt_number


def format_table(result: dict[str, Any]) -> str:
    """Plain-text table for the terminal: bands as columns, model vs copy-last rows, then IDM/reward lines."""
    bands = list(result["bands"])
    cols = [*bands, "all"]
    rows: list[tuple[str, list[str]]] = []
    for metric, digits in (("psnr", 2), ("ssim", 4)):
        for who, label in (("model", "model"), ("copy_last", "copy-last")):
            s = result[metric][who]
            rows.append(
                (
                    f"{metric.upper()} {label}",
                    [_fmt(s["bands"].get(b), digits) for b in bands] + [_fmt(s["mean"], digits)],
                )
            )
    idm = result.get("idm")
    if idm:
        for who in ("generated", "real"):
            vals = [_fmt(idm[f"{who}_bands"].get(b), 3) for b in bands] + [_fmt(idm[f"{who}_accuracy"], 3)]
            rows.append((f"IDM acc {who}", vals))
    motion = result.get("motion")
    if motion:
        for who, label in (("model", "model"), ("copy_last", "copy-last")):
            s = motion["recall"][who]
            rows.append(
                (
                    f"moving recall {label}",
                    [_fmt(s["bands"].get(b), 3) for b in bands] + [_fmt(s["mean"], 3)],
                )
            )
    reward = result.get("reward")
    if reward:
        rows.append(("reward MAE", [_fmt(reward["mae_bands"].get(b), 4) for b in bands] + [_fmt(reward["mae"], 4)]))
    width = max(len(r[0]) for r in rows)
    colw = max(8, *(len(c) for c in cols))
    lines = [f"{'horizon':<{width}}  " + "  ".join(f"{c:>{colw}}" for c in cols)]
    lines += [f"{name:<{width}}  " + "  ".join(f"{v:>{colw}}" for v in vals) for name, vals in rows]
    lines.append(f"{result['episodes']} episodes x {result['horizon']} frames at {result['height']}x{result['width']}")
    if idm:
        lines.append(
            f"IDM action following: generated/real = {_fmt(idm['ratio'], 3)} "
            f"(chance {_fmt(idm['chance'], 3)}, {idm['pairs']} pairs)"
        )
    if motion:
        px = motion["pixels"]
        lines.append(
            f"moving pixels per frame (changed >= {motion['threshold']} levels): model {_fmt(px['model']['mean'], 1)}"
            f", real {_fmt(px['real']['mean'], 1)} (ratio {_fmt(motion['ratio'], 2)})"
        )
    if reward:
        lines.append(
            f"reward: MAE {_fmt(reward['mae'], 4)} (always-zero {_fmt(reward['mae_zero_baseline'], 4)}), "
            f"correlation {_fmt(reward.get('correlation'), 3)}, sign accuracy {_fmt(reward['sign_accuracy'], 3)} "
            f"(|r| <= {reward['zero_tolerance']} counts as 0)"
        )
        if "return_mae" in reward:
            lines.append(
                f"return over the {result['horizon']} frames: MAE {_fmt(reward['return_mae'], 3)} "
                f"(always-zero {_fmt(reward['return_mae_zero_baseline'], 3)})"
            )
        ev = reward.get("events")
        if ev:
            lines.append(
                f"reward events (off {_fmt(ev['usual_reward'], 3)} by > {_fmt(ev['threshold'], 3)}): found "
                f"{_fmt(ev['recall'], 3)} of {ev['real']} real, precision {_fmt(ev['precision'], 3)}"
            )
    term = result.get("termination")
    if term:
        lines.append(
            f"termination @0.5: accuracy {_fmt(term['accuracy'], 3)}, precision {_fmt(term['precision'], 3)}, "
            f"recall {_fmt(term['recall'], 3)} ({term['positives']} real, {term['predicted_positives']} predicted)"
        )
    return "\n".join(lines)


def format_probes(result: dict[str, Any]) -> str:
    """One line per probe: rates in model and real (yes/no probes) or the error per horizon band (numbers)."""
    lines = []
    for key, v in (result.get("probes") or {}).items():
        if "rate_model" in v:
            lines.append(
                f"probe {key}: model {_fmt(v['rate_model'], 3)} vs real {_fmt(v['rate_real'], 3)} "
                f"(ratio {_fmt(v['ratio'], 2)}), agreement {_fmt(v['agreement']['mean'], 3)}"
                + (f", recall of real by band: {_bands(v['recall'])}" if "recall" in v else "")
            )
        else:
            what = "error" if "abs_error" in v else "mean"
            lines.append(f"probe {key}: {what} by horizon band: {_bands(v.get('abs_error', v))}")
    return "\n".join(lines)


def _bands(summary: dict[str, Any]) -> str:
    return ", ".join(f"{b} {_fmt(x, 2)}" for b, x in summary["bands"].items())
