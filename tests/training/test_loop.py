"""The one training loop: schedule, cadence, one sync per log row, divergence guard, stop and resume."""

import math

import pytest
import torch

from worldsim.errors import Error
from worldsim.training.loop import cosine_lr, fit


def test_cosine_schedule_warms_up_then_decays_to_its_floor():
    lrs = [cosine_lr(s, 1.0, 10, 110, 0.1) for s in range(110)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))
    assert cosine_lr(10_000, 1.0, 10, 110, 0.1) == pytest.approx(0.1)


def _quadratic():
    w = torch.nn.Parameter(torch.tensor([3.0]))
    opt = torch.optim.SGD([w], lr=0.1)

    def step(s):
        loss = (w**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    return w, opt, step


def test_rows_hooks_and_checkpoints_follow_their_cadence():
    w, opt, step = _quadratic()
    rows, saves, hooked = [], [], []
    result = fit(
        step, start=0, total=10, name="toy", opt=opt, lr=lambda s: 0.1, log_every=4, ckpt_every=5,
        hooks=[(3, lambda s: hooked.append(s) or {"val": float(s)})], save=lambda s, sec: saves.append(s),
        log=lambda s, row: rows.append(row), progress=False,
    )  # fmt: skip
    assert result.step == 10 and not result.stopped
    assert hooked == [3, 6, 9, 10] and saves == [5, 10]
    logged = [r["step"] for r in rows if "loss" in r]
    assert logged == [4, 8, 10]
    first = rows[[r["step"] for r in rows].index(4)]
    expect = sum(9.0 * 0.64**i for i in range(4)) / 4  # w shrinks by 0.8 a step: the mean of the window
    assert first["loss"] == pytest.approx(expect) and first["lr"] == 0.1 and first["samples_per_s"] > 0
    assert result.last["val"] == 10.0 and w.item() == pytest.approx(3 * 0.8**10)


def test_a_stop_rule_saves_where_it_stopped_and_a_rerun_continues():
    w, opt, step = _quadratic()
    saves = []
    first = fit(step, start=0, total=10, name="toy", opt=opt, save=lambda s, sec: saves.append(s),
                stop_rule=lambda signalled, done, sec: done >= 4, progress=False)  # fmt: skip
    assert first.stopped and first.step == 4 and saves == [4]
    second = fit(step, start=first.step, total=10, name="toy", opt=opt, save=lambda s, sec: saves.append(s),
                 seconds=first.seconds, progress=False)  # fmt: skip
    assert second.step == 10 and not second.stopped and saves == [4, 10]
    assert w.item() == pytest.approx(3 * 0.8**10)


def test_a_diverged_loss_is_one_clear_error():
    def step(s):
        return {"loss": torch.tensor(math.nan if s == 2 else 1.0)}

    with pytest.raises(Error, match="the toy loss became nan before step 5: training diverged"):
        fit(step, start=0, total=10, name="toy", log_every=5, progress=False)


def test_rows_are_means_of_their_window_and_skipped_steps_do_not_count():
    means = []

    def step(s):
        return {} if s == 1 else {"loss": torch.tensor(float(s))}  # step 1 had nothing to learn from

    fit(step, start=0, total=6, name="toy", log_every=3, progress=False, log=lambda s, r: means.append(r["loss"]))
    assert means == [1.0, 4.0]  # (0 + 2) / 2 and (3 + 4 + 5) / 3
