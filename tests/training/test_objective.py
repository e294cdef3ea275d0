import numpy as np
import pytest
import torch

from worldsim.errors import ConfigError
from worldsim.model.dynamics import DynamicsTransformer, preset
from worldsim.training.objective import (
    ObjectiveConfig,
    flow_matching_loss,
    frame_errors,
    latent_motion_weights,
    own_context,
    shortcut_loss,
)


def _window() -> torch.Tensor:
    """(B=1, F=3, C=4, 2, 2): frame 1 moves one position by a lot and another by a little; frame 2 is frame 1."""
    x = torch.zeros(1, 3, 4, 2, 2)
    x[0, 1:, :, 0, 1] = 2.0  # RMS change 2 at position (0, 1)
    x[0, 1:, :, 1, 0] = 0.1  # below the threshold
    return x


def test_latent_motion_weights_mark_positions_that_moved_since_the_previous_frame():
    w = latent_motion_weights(_window(), ObjectiveConfig(motion_weight=10, motion_threshold=0.5))
    assert w.shape == (1, 3, 2, 2)
    assert torch.equal(w[0, 0], torch.ones(2, 2))  # a window's first frame has nothing to compare with
    assert torch.equal(w[0, 1], torch.tensor([[1.0, 10.0], [1.0, 1.0]]))
    assert torch.equal(w[0, 2], torch.ones(2, 2))  # still frame
    assert latent_motion_weights(_window(), ObjectiveConfig()) is None  # off by default


def test_frame_errors_weigh_moving_positions_and_leave_static_frames_alone():
    x = _window()
    err = torch.zeros_like(x)
    err[0, :, :, 0, 1] = 1.0  # unit error on the position that moves in frame 1
    plain = frame_errors(err, torch.zeros_like(x), None)
    weighted = frame_errors(err, torch.zeros_like(x), latent_motion_weights(x, ObjectiveConfig(motion_weight=10)))
    assert torch.allclose(plain[0], torch.full((3,), 0.25))
    assert torch.allclose(weighted[0], torch.tensor([0.25, 2.5, 0.25]))


def test_motion_weighted_loss_is_larger_on_motion_and_trains():
    torch.manual_seed(0)
    cfg = preset("tiny", latent_channels=4, latent_height=2, latent_width=2, num_actions=3)
    model = DynamicsTransformer(cfg)
    x0 = _window().repeat(2, 1, 1, 1, 1)
    acts = torch.zeros(2, 3, dtype=torch.long)
    zeros = torch.zeros(2, 3)
    args = (model, x0, acts, zeros, zeros, torch.ones(2, 3, dtype=torch.bool))
    plain = flow_matching_loss(*args, ObjectiveConfig(), torch.Generator().manual_seed(1))
    moved = flow_matching_loss(*args, ObjectiveConfig(motion_weight=10), torch.Generator().manual_seed(1))
    assert moved["fm"] > plain["fm"]
    boxes = torch.zeros(2, 3, 2, 2)
    boxes[:, :, 1, 1] = 1  # a labelled object at one position
    cfg = ObjectiveConfig(label_weight=10)
    labelled = flow_matching_loss(*args, cfg, torch.Generator().manual_seed(1), boxes=boxes)
    assert labelled["fm"] > plain["fm"]
    assert flow_matching_loss(*args, cfg, torch.Generator().manual_seed(1))["fm"] == plain["fm"]  # no boxes: off
    moved["loss"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("kw", [{"motion_weight": 0.5}, {"motion_threshold": 0.0}])
def test_bad_motion_settings_are_config_errors(kw):
    with pytest.raises(ConfigError, match="objective.motion"):
        ObjectiveConfig(**kw)


def test_label_weights_weigh_the_latent_positions_of_labelled_objects():
    from worldsim.training.objective import latent_weights
    from worldsim.training.windows import latent_boxes

    labels = np.zeros((2, 8, 5), np.float32)
    labels[0, 0] = [1, 10.0, 3.0, 17.0, 12.0]  # pixels 10-16 x 3-11: latent columns 1-2, rows 0-1 (8 px each)
    boxes = latent_boxes(labels, (64, 64), (8, 8))
    assert boxes.shape == (2, 8, 8) and boxes[1].sum() == 0
    assert boxes[0, :2, 1:3].all() and boxes[0].sum() == 4
    x0 = torch.zeros(1, 2, 4, 8, 8)
    b = torch.from_numpy(boxes)[None]
    assert latent_weights(x0, ObjectiveConfig(), b) is None  # off by default
    w = latent_weights(x0, ObjectiveConfig(label_weight=20.0), b)
    assert w[0, 0, 0, 1] == 20.0 and w[0, 0, 5, 5] == 1.0 and (w[0, 1] == 1).all()
    x0[0, 1, :, 5, 5] = 3.0  # a position that moved: the motion weight multiplies in
    both = latent_weights(x0, ObjectiveConfig(label_weight=20.0, motion_weight=5.0), b)
    assert both[0, 1, 5, 5] == 5.0 and both[0, 0, 0, 1] == 20.0
    with pytest.raises(ConfigError, match="label_weight must be >= 1"):
        ObjectiveConfig(label_weight=0.5)


def test_context_label_weights_do_not_depend_on_what_the_frame_holds():
    """label_from=context: a frame is weighted by the boxes of the frame before, widened one position each way."""
    from worldsim.training.objective import latent_weights

    boxes = torch.zeros(1, 3, 8, 8)
    boxes[0, 0, 4, 4] = 1  # a ball at frame 0
    boxes[0, 1, 4, 5] = 1  # returned at frame 1 (moved one position); frame 2: lost
    cfg = ObjectiveConfig(label_weight=20.0, label_from="context")
    w = latent_weights(torch.zeros(1, 3, 4, 8, 8), cfg, boxes)
    assert (w[0, 0] == 1).all()  # nothing before the first frame
    assert (w[0, 1, 3:6, 3:6] == 20).all() and w[0, 1].sum() == 9 * 20 + 55  # around frame 0's ball
    assert (w[0, 2, 3:6, 4:7] == 20).all() and w[0, 2, 4, 3] == 1  # the ball lost weighs as the ball kept
    lost = boxes.clone()
    lost[0, 1] = 0  # whatever frame 1 holds, frame 1 weighs the same
    assert torch.equal(latent_weights(torch.zeros(1, 3, 4, 8, 8), cfg, lost)[:, 1], w[:, 1])
    target = latent_weights(torch.zeros(1, 3, 4, 8, 8), ObjectiveConfig(label_weight=20.0), boxes)
    assert (target[0, 2] == 1).all()  # the default weighs a frame by its own boxes: a lost ball is not weighted
    with pytest.raises(ConfigError, match="label_from"):
        ObjectiveConfig(label_from="next")


def _train_moving_dot(model: DynamicsTransformer, obj: ObjectiveConfig) -> tuple[float, float]:
    """Flow-matching loss before and after 60 steps on a dot that steps one position right each frame.

    The dot's next place is predictable only from the clean frames before it.
    """
    x0 = torch.zeros(4, 4, 4, 2, 4)
    for f in range(4):
        x0[:, f, :, 0, f] = 2.0
    zeros = torch.zeros(4, 4)
    args = (model, x0, torch.zeros(4, 4, dtype=torch.long), zeros, zeros, torch.ones(4, 4, dtype=torch.bool))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for step in range(60):
        out = flow_matching_loss(*args, obj, torch.Generator().manual_seed(step))
        first = out["fm"].item() if first is None else first
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    return first, out["fm"].item()


def test_teacher_forced_objective_trains_a_moving_dot():
    torch.manual_seed(0)
    model = DynamicsTransformer(preset("tiny", latent_channels=4, latent_height=2, latent_width=4, num_actions=3))
    first, last = _train_moving_dot(model, ObjectiveConfig(teacher_forcing=0.5))
    assert last < 0.5 * first
    with pytest.raises(ConfigError, match="teacher_forcing"):
        ObjectiveConfig(teacher_forcing=1.5)


def _perturbed_tiny(width: int = 2) -> DynamicsTransformer:
    torch.manual_seed(0)
    model = DynamicsTransformer(preset("tiny", latent_channels=4, latent_height=2, latent_width=width, num_actions=3))
    with torch.no_grad():  # a fresh model predicts zero everywhere: perturb it so its drawings depend on the context
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_own_context_draws_each_frame_from_the_real_frames_before_it():
    model = _perturbed_tiny()
    x0 = torch.randn(2, 4, 4, 2, 2)
    acts = torch.zeros(2, 4, dtype=torch.long)
    obj = ObjectiveConfig(teacher_forcing=1.0, self_context=1.0)
    own = own_context(model, x0, acts, obj, torch.Generator().manual_seed(3))
    assert not own.requires_grad and own.shape == x0.shape
    assert torch.equal(own[:, 0], x0[:, 0])  # nothing comes before the first frame: it stays real
    assert not torch.allclose(own[:, 1:], x0[:, 1:], atol=1e-3)  # the rest is the model's drawing
    changed = x0.clone()
    changed[:, 2] += 1.0
    again = own_context(model, changed, acts, obj, torch.Generator().manual_seed(3))
    assert torch.allclose(again[:, :3], own[:, :3])  # frame 2's own drawing does not look at the real frame 2...
    assert not torch.allclose(again[:, 3], own[:, 3])  # ...frame 3's does


def test_self_context_objective_trains_and_checks_its_setting():
    first, last = _train_moving_dot(_perturbed_tiny(width=4), ObjectiveConfig(teacher_forcing=1.0, self_context=0.5))
    assert last < 0.5 * first
    with pytest.raises(ConfigError, match="self_context"):
        ObjectiveConfig(teacher_forcing=0.5, self_context=-0.1)
    with pytest.raises(ConfigError, match="needs objective.teacher_forcing"):
        ObjectiveConfig(self_context=0.5)


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_shortcut_loss_trains_teacher_forced_windows(share):
    torch.manual_seed(0)
    cfg = preset("tiny", latent_channels=4, latent_height=2, latent_width=2, num_actions=3, shortcut=True)
    model, ema = DynamicsTransformer(cfg), DynamicsTransformer(cfg)
    with torch.no_grad():  # fresh models predict zero everywhere: perturb them so targets and errors are real
        for p in [*model.parameters(), *ema.parameters()]:
            p.add_(0.05 * torch.randn_like(p))
    x0 = torch.randn(8, 3, 4, 2, 2)
    acts = torch.zeros(8, 3, dtype=torch.long)
    zeros = torch.zeros(8, 3)
    obj = ObjectiveConfig(bootstrap_every=2, teacher_forcing=share)
    out = shortcut_loss(model, ema, x0, acts, zeros, zeros, torch.ones(8, 3, dtype=torch.bool), obj,
                        torch.Generator().manual_seed(1))  # fmt: skip
    assert torch.isfinite(out["loss"]) and out["shortcut"] > 0
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
