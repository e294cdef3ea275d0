"""``worldsim eval``: open-loop rollouts of a world model on held-out episodes, scored against reality."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from worldsim.assets import resolve_world
from worldsim.config import to_dict
from worldsim.data.dataset import Dataset
from worldsim.data.windows import eval_windows, gather
from worldsim.device import resolve_device
from worldsim.errors import CheckpointError
from worldsim.probes import PROBES
from worldsim.sampling.config import HoldConfig, resolve_sampling
from worldsim.sampling.display import Display
from worldsim.sampling.open_loop import open_loop
from worldsim.video import contact_sheet, write_png
from worldsim.world_model import WorldModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    """Settings of an evaluation.

    Attributes:
        world: Shipped world name or world model file.
        data: Dataset whose validation episodes are used (the world's training dataset).
        out: Directory for ``eval.json``, ``eval.png`` and the IDM.
        episodes: Evaluation windows (one per validation episode while they last).
        horizon: Generated frames per window.
        sampling: Overrides of the world's sampling recipe, e.g. ``{"steps": 4, "guidance": {"scale": 0}}``
            (see :func:`~worldsim.sampling.config.resolve_sampling`).
        idm: Inverse-dynamics classifier file; empty = train one on the dataset (cached in ``out``).
        idm_steps: Training steps for that classifier.
        batch_size: Streams generated together.
        seed: Seed of window choice and sampling noise.
        device: ``auto``, ``cpu`` or ``cuda``.
    """

    world: str
    data: str
    out: str = "runs/eval"
    episodes: int = 16
    horizon: int = 64
    sampling: dict[str, Any] = field(default_factory=dict)
    idm: str = ""
    idm_steps: int = 2000
    batch_size: int = 16
    seed: int = 0
    device: str = "auto"


def codec_ceiling(
    world: WorldModel,
    frames: np.ndarray,
    actions: np.ndarray,
    idm,
    hold: HoldConfig,
    probe: Any = None,
    probe_real: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """What a perfect dynamics model would score: real frames passed through the codec (encode, decode).

    ``frames`` ``(E, 1 + T, H, W, 3)`` are the last context frame and the real continuation; ``actions``
    ``(E, T)`` led to the continuation. Generated frames can only be as sharp as the codec, so this tells
    codec limits apart from dynamics errors. With the world's ``probe``, ``probes`` says what the codec keeps of
    what the probes read (a world cannot keep a monster or a ball its codec drops); ``probe_real`` is
    ``probe(frames[:, 1:])`` when the caller has it.
    """
    from worldsim.eval.idm import accuracy
    from worldsim.eval.report import probe_scores
    from worldsim.metrics import finite_mean, moving, psnr, recall_at

    # Decoded in order, each frame after the one decoded before it, from the real last context frame: the
    # way generated frames are decoded, so a codec's refiner or pixel hold gets nothing a rollout would not have.
    latents = world.encode(frames[:, 1:])  # (E, T, C, h, w)
    display = Display(world, hold)
    display.start(np.asarray(frames[:, 0]))
    recon = np.stack([np.asarray(frames[:, 0])] + [display.show(latents[:, t]) for t in range(latents.shape[1])], 1)
    h, w = frames.shape[2:4]
    a, b = recon[:, :-1].reshape(-1, h, w, 3), recon[:, 1:].reshape(-1, h, w, 3)
    real_moving = moving(frames[:, 1:], frames[:, :-1])
    out: dict[str, Any] = {
        "psnr": float(psnr(recon[:, 1:], frames[:, 1:]).mean()),
        "idm_accuracy": float(accuracy(idm, a, b, actions.reshape(-1))),
        "moving_recall": finite_mean(recall_at(recon[:, 1:], frames[:, 1:], real_moving)),
        "moving_ratio": float(moving(recon[:, 1:], recon[:, :-1]).sum() / max(1, real_moving.sum())),
    }
    if probe is not None:
        real = probe_real if probe_real is not None else probe(frames[:, 1:])
        out["probes"] = probe_scores(probe(recon[:, 1:]), real)
    return out


def run_eval(cfg: EvalConfig, progress: bool = True) -> dict[str, Any]:
    """Evaluate ``cfg.world`` on ``cfg.data``; writes the report and returns it."""
    from worldsim.eval.idm import InverseDynamics, train_idm
    from worldsim.eval.report import evaluate_rollouts, write_report

    device = resolve_device(cfg.device)
    world = WorldModel.load(resolve_world(cfg.world).world, device)
    ds = Dataset(cfg.data)
    if ds.schema.fingerprint != world.schema.fingerprint:
        raise CheckpointError(
            f"{cfg.world}: was trained on actions {world.schema.names} ({world.schema.world}) but {cfg.data} "
            f"records {ds.schema.names} ({ds.schema.world}); evaluate on the world's own dataset"
        )
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    idm_path = Path(cfg.idm) if cfg.idm else out / "idm.safetensors"
    if idm_path.exists():
        idm = InverseDynamics.from_checkpoint(idm_path, device=device)
    elif cfg.idm:
        raise CheckpointError(f"{idm_path}: inverse-dynamics model not found")
    else:
        log.info("training an inverse-dynamics classifier on %s (%d steps)", cfg.data, cfg.idm_steps)
        idm, info = train_idm(ds, steps=cfg.idm_steps, seed=cfg.seed, device=device, progress=progress)
        idm.save(idm_path, **{k: v for k, v in info.items() if isinstance(v, int | float | str)})
    context = world.dynamics.cfg.context_len
    windows = eval_windows(ds, context, cfg.horizon, cfg.episodes, cfg.seed)
    episodes = len({e for e, _ in windows})
    if episodes < min(4, len(windows)):
        # Windows come from validation episodes only; a fresh set collected with the default 5% has one or two.
        log.warning(
            "%s: %d windows from only %d validation episode(s); for an evaluation set collect every episode as "
            "validation (`worldsim collect ... val_fraction=0.99`)", cfg.data, len(windows), episodes,
        )  # fmt: skip
    data = gather(ds, windows, context, cfg.horizon, world.dynamics.cfg.null_action)
    recipe = resolve_sampling(world.sampling, cfg.sampling, where=f"{cfg.world} sampling")
    gen = {"frames": [], "reward": [], "term_prob": []}
    for s in range(0, len(windows), cfg.batch_size):
        sl = slice(s, s + cfg.batch_size)
        g = open_loop(
            world, data["frames"][sl, :context], data["actions"][sl, :context], data["actions"][sl, context:],
            recipe, seed=cfg.seed + s, progress=progress,
        )  # fmt: skip
        for k in gen:
            gen[k].append(g[k])
    gen = {k: np.concatenate(v) for k, v in gen.items()}
    probe = PROBES.get(world.schema.world)
    probe_real = probe(data["frames"][:, context:]) if probe is not None else None  # read once, used twice
    result = evaluate_rollouts(
        gen["frames"], data["frames"][:, context:], data["frames"][:, context - 1], data["actions"][:, context:],
        idm=idm, pred_reward=gen["reward"], real_reward=data["rewards"][:, context:],
        pred_term_prob=gen["term_prob"], real_term=data["terminated"][:, context:],
        probe=probe, probe_real=probe_real,
    )  # fmt: skip
    result["config"] = {
        "world": cfg.world, "data": cfg.data, "sampling": to_dict(recipe), "context": context,
        "horizon": cfg.horizon, "episodes": len(windows), "source_episodes": episodes, "seed": cfg.seed,
        "device": str(device),
    }  # fmt: skip
    result["codec_ceiling"] = codec_ceiling(
        world, data["frames"][:, context - 1 :], data["actions"][:, context:], idm, recipe.hold,
        probe=probe, probe_real=probe_real,
    )  # fmt: skip
    json_path, png_path = write_report(result, out)
    sheet = write_png(out / "sheet.png", eval_sheet(data["frames"][:, context - 1 :], gen["frames"]))
    result["files"] = {"json": str(json_path), "png": str(png_path), "sheet": str(sheet)}
    return result


#: Horizons the contact sheet shows (0 = the last context frame).
SHEET_HORIZONS = (0, 1, 2, 4, 8, 16, 32, 64)


def eval_sheet(real: np.ndarray, generated: np.ndarray, windows: int = 4) -> np.ndarray:
    """Real row over generated row for the first ``windows`` windows, at :data:`SHEET_HORIZONS`.

    ``real`` ``(E, 1 + T, H, W, 3)`` starts with the last context frame; ``generated`` is ``(E, T, H, W, 3)``. A
    melting room or a missing ball is seen here, not in a mean.
    """
    picks = [t for t in SHEET_HORIZONS if t <= generated.shape[1]]
    rows = []
    for e in range(min(windows, len(generated))):
        rows.append(np.stack([real[e, t] for t in picks]))
        rows.append(np.stack([real[e, 0] if t == 0 else generated[e, t - 1] for t in picks]))
    return contact_sheet(rows, scale=2)
