"""Flow-matching objective with per-frame noise levels (diffusion forcing) and context noise.

Convention (NFD): ``x_t = (1 - t) * x0 + t * eps`` with ``t = 0`` clean and ``t = 1`` pure noise; the
model predicts the velocity ``v = eps - x0``. Every frame of a window draws its own ``t`` (logit-normal).
Half the windows instead look like inference: a clean-ish prefix (small context noise, no loss) followed
by noisy frames, so the model learns to use a context that is itself slightly imperfect (anti-drift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from worldsim.checkpoint import unwrap
from worldsim.errors import ConfigError
from worldsim.model.dynamics import DynamicsTransformer, reward_support, two_hot
from worldsim.sampling.schedule import euler_schedule


@dataclass(frozen=True)
class ObjectiveConfig:
    """Loss settings.

    Attributes:
        logit_mean: Mean of the logit-normal noise-level distribution.
        logit_std: Std of the logit-normal noise-level distribution.
        prefix_prob: Fraction of windows trained in inference layout (clean-ish prefix, noisy rest).
        context_noise: Max noise level of prefix (context) frames in training; inference uses a fixed level.
        action_dropout: Probability of replacing a frame's action with the null action.
        reward_weight: Weight of the reward regression loss.
        term_weight: Weight of the termination classification loss.
        term_pos_weight: Up-weighting of the rare terminal frames.
        bootstrap_every: Shortcut distillation: 1 in this many windows trains self-consistency of larger steps
            against the EMA model (0 = plain flow matching, the teacher objective).
        base_steps: Finest step count of the shortcut hierarchy (steps d = 1/base_steps ... 1/2 are bootstrapped).
        motion_weight: Loss weight of latent positions that changed since the window's previous frame (1 = off).
            A small moving object (Breakout's ball) is a few positions of a frame: under a plain mean the model
            learns to leave it out.
        motion_threshold: Channel RMS change (in latent std units) above which a position counts as moving.
        label_weight: Loss weight of latent positions that touch a box of the dataset's labels (Doom's monsters;
            1 = off). A monster is a few positions of a room the camera sweeps: under a plain mean the model lets
            it dissolve into the walls.
        label_from: Which frame's boxes weigh a frame's positions. ``target``: its own. The weight then depends on
            what the frame turns out to hold, and a weighted regression leans toward the outcomes that weigh more
            (where a ball may be lost or returned, toward drawing it). ``context``: the boxes of the frame before,
            widened by one position each way (as far as an object moves in a frame), so a position weighs the same
            whatever the frame holds; an object that appears from nowhere (a served ball) is not weighted. One A/B
            on Breakout (docs/model.md): a still paddle's lost ball drawn in 51% of late frames against 73%, but
            not the real 5%; experimental, off by default.
        teacher_forcing: Share of each batch's windows trained teacher-forced: every frame is denoised against
            clean (context-noised) copies of the frames before it, the layout of every frame the sampler makes.
            Under diffusion forcing alone a noisy frame comes before most targets, so few of them see the motion
            between two clean frames (a ball's velocity). Costs about twice the compute per window (0 = off).
        self_context: Share of the teacher-forced windows whose context is the model's own drawing: each frame after
            the first replaced by what the model makes of it from the real frames before it (two Euler steps, no
            gradient), while the targets stay real: a rollout's context is the model's own frames, with specks and
            smears that real context never shows. Against Breakout's self-served ball it made things worse (the
            world learnt "a smear is a ball"; docs/model.md, "Not drift"). Costs about two more forward passes per
            such window (0 = off).
    """

    logit_mean: float = 0.0
    logit_std: float = 1.0
    prefix_prob: float = 0.5
    context_noise: float = 0.1
    action_dropout: float = 0.1
    reward_weight: float = 0.1
    term_weight: float = 0.1
    term_pos_weight: float = 20.0
    bootstrap_every: int = 0
    base_steps: int = 128
    motion_weight: float = 1.0
    motion_threshold: float = 0.5
    label_weight: float = 1.0
    label_from: str = "target"
    teacher_forcing: float = 0.0
    self_context: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.teacher_forcing <= 1:
            raise ConfigError(f"objective.teacher_forcing must be in [0, 1], got {self.teacher_forcing}")
        if not 0 <= self.self_context <= 1:
            raise ConfigError(f"objective.self_context must be in [0, 1], got {self.self_context}")
        if self.self_context and not self.teacher_forcing:
            raise ConfigError("objective.self_context needs objective.teacher_forcing > 0 (it replaces their context)")
        if self.motion_weight < 1:
            raise ConfigError(f"objective.motion_weight must be >= 1 (1 = off), got {self.motion_weight}")
        if self.label_weight < 1:
            raise ConfigError(f"objective.label_weight must be >= 1 (1 = off), got {self.label_weight}")
        if self.label_from not in ("target", "context"):
            raise ConfigError(f"objective.label_from must be 'target' or 'context', got {self.label_from!r}")
        if self.motion_threshold <= 0:
            raise ConfigError(f"objective.motion_threshold must be > 0, got {self.motion_threshold}")


def latent_motion_weights(x0: torch.Tensor, cfg: ObjectiveConfig) -> torch.Tensor | None:
    """Loss weights ``(B, F, h, w)`` of latent positions: ``motion_weight`` where one moved, else 1.

    A position moved when the RMS over channels of its change from the previous frame of the window exceeds
    ``motion_threshold``; a window's first frame has no previous frame and weighs 1. ``None`` when off.
    """
    if cfg.motion_weight == 1:
        return None
    change = (x0[:, 1:].float() - x0[:, :-1].float()).square().mean(dim=2).sqrt()  # (B, F-1, h, w)
    moved = torch.cat([torch.zeros_like(change[:, :1]), change], dim=1) > cfg.motion_threshold
    return 1 + (cfg.motion_weight - 1) * moved.float()


def latent_weights(x0: torch.Tensor, cfg: ObjectiveConfig, boxes: torch.Tensor | None) -> torch.Tensor | None:
    """Motion weights (:func:`latent_motion_weights`) times ``label_weight`` where ``boxes`` marks a labelled object.

    ``boxes`` ``(B, F, h, w)`` comes with the batch (:func:`~worldsim.training.windows.latent_boxes`); ``None`` when
    neither weighting is on.
    """
    w = latent_motion_weights(x0, cfg)
    if boxes is None or cfg.label_weight == 1:
        return w
    boxes = boxes.to(x0.device).float()
    if cfg.label_from == "context":
        before = torch.cat([torch.zeros_like(boxes[:, :1]), boxes[:, :-1]], dim=1)
        boxes = F.max_pool2d(before.flatten(0, 1)[:, None], 3, stride=1, padding=1)[:, 0].view_as(boxes)
    labelled = 1 + (cfg.label_weight - 1) * boxes
    return labelled if w is None else w * labelled


def frame_errors(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Per-frame squared error ``(B, F)``, weighted per latent position when ``weights`` is given.

    The weighted error is a mean over positions, not a weighted mean: a static frame's error is unchanged, so the
    weights add loss on motion instead of diluting the rest.
    """
    per_pos = (pred.float() - target).square().mean(dim=2)  # (B, F, h, w)
    if weights is not None:
        per_pos = per_pos * weights
    return per_pos.mean(dim=(2, 3))


def reward_loss(
    out: dict[str, torch.Tensor], rewards: torch.Tensor, weights: torch.Tensor, limit: float
) -> torch.Tensor:
    """Weighted mean reward loss of frames ``(B, F)``.

    Cross-entropy to two-hot targets for a distributional head (``reward_logits`` in ``out``; ``limit`` is its
    ``reward_limit``), squared error otherwise.
    """
    if "reward_logits" in out:
        logits = out["reward_logits"].float()
        target = two_hot(rewards, reward_support(logits.shape[-1], limit).to(logits.device))
        per_frame = -(target * F.log_softmax(logits, dim=-1)).sum(dim=-1)
    else:
        per_frame = (out["reward"].float() - rewards).square()
    return (weights * per_frame).sum() / weights.sum().clamp(min=1e-6)


def sample_noise_levels(
    b: int, f: int, cfg: ObjectiveConfig, generator: torch.Generator | None = None, device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame noise levels ``(B, F)`` and a loss mask ``(B, F)`` (False on context-prefix frames)."""
    t = torch.sigmoid(cfg.logit_mean + cfg.logit_std * torch.randn(b, f, generator=generator)).to(device)
    loss_mask = torch.ones(b, f, dtype=torch.bool, device=device)
    use_prefix = torch.rand(b, generator=generator).to(device) < cfg.prefix_prob
    prefix_len = torch.randint(1, f, (b,), generator=generator).to(device)
    is_prefix = (torch.arange(f, device=device)[None, :] < prefix_len[:, None]) & use_prefix[:, None]
    ctx_t = cfg.context_noise * torch.rand(b, f, generator=generator).to(device)
    t = torch.where(is_prefix, ctx_t, t)
    loss_mask &= ~is_prefix
    return t, loss_mask


def clean_copy(
    x0: torch.Tensor, cfg: ObjectiveConfig, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher-forced clean copy of windows ``x0`` and its levels ``(B, F)``: context noise, as committed frames."""
    t_ctx = cfg.context_noise * torch.rand(x0.shape[:2], generator=generator).to(x0.device)
    ctx = t_ctx[:, :, None, None, None]
    return (1 - ctx) * x0 + ctx * torch.randn(x0.shape, generator=generator).to(x0.device), t_ctx


# Two Euler steps: a one-jump drawing is the blurred mean of what may come, without the sharp specks of the
# sampler's few-step frames that a rollout's context is made of; more steps cost a forward pass each.
SELF_CONTEXT_STEPS = 2


def own_context(
    model: DynamicsTransformer,
    x0: torch.Tensor,
    actions: torch.Tensor,
    cfg: ObjectiveConfig,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Windows ``x0`` as the model draws them, each frame from the real frames before it; the first frame stays real.

    Teacher-forced, so every frame is drawn at once (``SELF_CONTEXT_STEPS`` Euler steps from pure noise, no gradient).
    """
    b, f = x0.shape[:2]
    clean, t_clean = clean_copy(x0, cfg, generator)
    x = torch.randn(x0.shape, generator=generator).to(x0.device)
    levels = euler_schedule(SELF_CONTEXT_STEPS).tolist()
    with torch.no_grad():
        for t0, t1 in zip(levels[:-1], levels[1:], strict=True):
            t = torch.full((b, f), t0, device=x0.device)
            x = x + (t1 - t0) * model(x, t, actions, clean=clean, t_clean=t_clean)["v"].float()
    x[:, 0] = x0[:, 0].float()
    return x.to(x0.dtype)


def flow_matching_loss(
    model: DynamicsTransformer,
    x0: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    has_action: torch.Tensor,
    cfg: ObjectiveConfig,
    generator: torch.Generator | None = None,
    boxes: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Loss of one batch of windows.

    The first ``round(B * cfg.teacher_forcing)`` windows are trained teacher-forced (``clean`` in
    :meth:`~worldsim.model.dynamics.DynamicsTransformer.forward`), the rest with diffusion forcing. Teacher-forced
    windows keep the noise levels drawn for every window, so the frames of a drawn prefix train as near-clean targets.
    The first ``round(ntf * cfg.self_context)`` of them see the model's own drawing as context (:func:`own_context`).

    Args:
        model: The dynamics transformer.
        x0: Clean latents ``(B, F, C, h, w)``.
        actions: Action that led to each frame ``(B, F)`` (null id where unknown).
        rewards: Reward that came with each frame ``(B, F)``.
        terminated: Termination flag that came with each frame ``(B, F)``.
        has_action: ``(B, F)`` True where the frame was produced by a recorded step (heads are trained there).
        cfg: Objective settings.
        generator: Source of all randomness (for reproducible training).
        boxes: ``(B, F, h, w)`` latent positions of labelled objects, weighed ``cfg.label_weight`` (or None).

    Returns:
        ``loss`` (total) and its parts ``fm``, ``reward``, ``term``.
    """
    b, f = x0.shape[:2]
    dev = x0.device
    ntf = round(b * cfg.teacher_forcing)
    t, loss_mask = sample_noise_levels(b, f, cfg, generator, dev)
    loss_mask[:ntf] = True
    eps = torch.randn(x0.shape, generator=generator).to(dev)
    tt = t[:, :, None, None, None]
    xt = (1 - tt) * x0 + tt * eps
    drop = torch.rand(b, f, generator=generator).to(dev) < cfg.action_dropout
    cond_actions = torch.where(drop, torch.full_like(actions, unwrap(model).cfg.null_action), actions)
    # Heads see noisy frames in diffusion forcing; weight by cleanliness since inference reads them on clean frames.
    head_w = (1 - t) * has_action
    outs = []
    if ntf:
        nsc = round(ntf * cfg.self_context)
        context = x0[:ntf]
        if nsc:
            own = own_context(model, x0[:nsc], actions[:nsc], cfg, generator)
            context = torch.cat([own, x0[nsc:ntf]])
        clean, t_ctx = clean_copy(context, cfg, generator)
        outs.append(model(xt[:ntf], t[:ntf], cond_actions[:ntf], clean=clean, t_clean=t_ctx))
        head_w = torch.cat([(1 - t_ctx) * has_action[:ntf], head_w[ntf:]])
    if ntf < b:
        outs.append(model(xt[ntf:], t[ntf:], cond_actions[ntf:]))
    out = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    per_frame = frame_errors(out["v"], eps - x0, latent_weights(x0, cfg, boxes))  # (B, F)
    fm = (per_frame * loss_mask).sum() / loss_mask.sum().clamp(min=1)
    reward = reward_loss(out, rewards, head_w, unwrap(model).cfg.reward_limit)
    term_bce = F.binary_cross_entropy_with_logits(
        out["term_logit"].float(),
        terminated.float(),
        pos_weight=torch.tensor(cfg.term_pos_weight, device=dev),
        reduction="none",
    )
    term = (head_w * term_bce).sum() / head_w.sum().clamp(min=1e-6)
    loss = fm + cfg.reward_weight * reward + cfg.term_weight * term
    return {"loss": loss, "fm": fm.detach(), "reward": reward.detach(), "term": term.detach()}


def shortcut_targets(
    ema: DynamicsTransformer,
    x0: torch.Tensor,
    t: torch.Tensor,
    actions: torch.Tensor,
    noisy: torch.Tensor,
    cfg: ObjectiveConfig,
    generator: torch.Generator | None = None,
    clean: torch.Tensor | None = None,
    t_clean: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Inputs and self-consistency targets of shortcut models (Frans et al. 2024) for windows of frames.

    Draws a step ``d`` per window from ``1/base_steps .. 1/2``, moves the noisy frames' ``t`` onto the grid of
    ``2d`` and noises ``x0`` there; the target of one student step of size ``2d`` is the mean velocity of two
    EMA steps of size ``d``. Context (non-``noisy``) frames keep their small noise level and ``d = 0``. With a
    ``clean`` copy (levels ``t_clean``) the EMA runs teacher-forced.

    Returns ``xt`` (inputs), ``t``, ``d`` (the student's step sizes ``2d``) and ``v`` (targets).
    """
    b, f = t.shape
    dev = x0.device
    levels = int(math.log2(cfg.base_steps))
    k = torch.randint(0, levels, (b,), generator=generator).to(dev)
    d = (2.0**k / cfg.base_steps)[:, None].expand(b, f)  # (B, F), d in {1/M, ..., 1/2}
    n_grid = (1.0 / (2 * d)).round()
    j = torch.floor(torch.rand(b, f, generator=generator).to(dev) * n_grid) + 1  # 1 .. 1/(2d)
    t = torch.where(noisy, (2 * d * j).clamp(max=1.0), t)
    d = torch.where(noisy, d, torch.zeros_like(d))
    eps = torch.randn(x0.shape, generator=generator).to(dev)
    tt = t[:, :, None, None, None]
    xt = (1 - tt) * x0 + tt * eps
    with torch.no_grad():
        s1 = ema(xt, t, actions, d=d, clean=clean, t_clean=t_clean)["v"].float()
        x2 = xt - d[:, :, None, None, None] * s1  # one step of size d towards the data (t decreases)
        s2 = ema(x2, (t - d).clamp(min=0.0), actions, d=d, clean=clean, t_clean=t_clean)["v"].float()
        target = ((s1 + s2) / 2).clamp(-4, 4)
    return {"xt": xt, "t": t, "d": 2 * d, "v": target}


def shortcut_loss(
    model: DynamicsTransformer,
    ema: DynamicsTransformer,
    x0: torch.Tensor,
    actions: torch.Tensor,
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    has_action: torch.Tensor,
    cfg: ObjectiveConfig,
    generator: torch.Generator | None = None,
    boxes: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Flow matching (``d = 0``) on most windows plus shortcut self-consistency on ``1 / bootstrap_every``.

    Both parts train the share ``cfg.teacher_forcing`` of their windows teacher-forced.
    """
    nb = max(1, x0.shape[0] // cfg.bootstrap_every)
    rest = (x0[nb:], actions[nb:], rewards[nb:], terminated[nb:], has_action[nb:])
    fm = flow_matching_loss(model, *rest, cfg, generator, boxes=None if boxes is None else boxes[nb:])
    t, noisy = sample_noise_levels(nb, x0.shape[1], cfg, generator, x0.device)
    ntf = round(nb * cfg.teacher_forcing)
    noisy[:ntf] = True
    errors = []
    for part, forced in ((slice(0, ntf), True), (slice(ntf, nb), False)):
        if part.start == part.stop:
            continue
        xp = x0[part]
        clean, t_clean = clean_copy(xp, cfg, generator) if forced else (None, None)
        boot = shortcut_targets(ema, xp, t[part], actions[part], noisy[part], cfg, generator, clean, t_clean)
        pred = model(boot["xt"], boot["t"], actions[part], d=boot["d"], clean=clean, t_clean=t_clean)["v"].float()
        errors.append(frame_errors(pred, boot["v"], latent_weights(xp, cfg, None if boxes is None else boxes[part])))
    per_frame = torch.cat(errors)
    sc = (per_frame * noisy).sum() / noisy.sum().clamp(min=1)
    return {**fm, "loss": fm["loss"] + sc, "shortcut": sc.detach()}
