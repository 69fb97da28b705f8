"""StepLR and CosineAnnealingLR against their closed forms."""

from __future__ import annotations

import math

import pytest

import gradkit as gk
from gradkit import optim
from gradkit.optim.lr_scheduler import CosineAnnealingLR, StepLR


def _opt(lr: float = 0.1) -> optim.SGD:
    p = gk.ones(2, requires_grad=True)
    q = gk.ones(2, requires_grad=True)
    return optim.SGD([{"params": [p]}, {"params": [q], "lr": lr * 10}], lr=lr, momentum=0.9)


def test_step_lr():
    opt = _opt()
    sched = StepLR(opt, step_size=3, gamma=0.5)
    seen = []
    for _ in range(10):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    for epoch, lrs in enumerate(seen):
        assert lrs == pytest.approx([0.1 * 0.5 ** (epoch // 3), 1.0 * 0.5 ** (epoch // 3)], rel=1e-12)
    assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
    assert sched.last_epoch == 10


def test_cosine_annealing_follows_the_closed_form_through_restarts():
    opt = _opt()
    sched = CosineAnnealingLR(opt, T_max=4, eta_min=0.01)
    for epoch in range(13):
        for base, group in zip((0.1, 1.0), opt.param_groups, strict=True):
            expected = 0.01 + (base - 0.01) * (1 + math.cos(math.pi * epoch / 4)) / 2
            assert group["lr"] == pytest.approx(expected, rel=1e-10, abs=1e-12), epoch
        opt.step()
        sched.step()


def test_scheduler_state_dict_round_trip():
    opt = _opt()
    sched = CosineAnnealingLR(opt, T_max=10)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3
    opt2 = _opt()
    for g in opt2.param_groups:
        g["initial_lr"] = g["lr"]
    sched2 = CosineAnnealingLR(opt2, T_max=10, last_epoch=0)
    sched2.load_state_dict(state)
    for g, h in zip(opt.param_groups, opt2.param_groups, strict=True):
        h["lr"] = g["lr"]
    sched.step()
    sched2.step()
    assert sched.get_last_lr() == pytest.approx(sched2.get_last_lr())


def test_scheduler_errors():
    with pytest.raises(gk.InvalidArgumentError, match="step_size"):
        StepLR(_opt(), step_size=0)
    with pytest.raises(gk.InvalidArgumentError, match="T_max"):
        CosineAnnealingLR(_opt(), T_max=-1)
    with pytest.raises(gk.InvalidArgumentError, match="initial_lr"):
        StepLR(_opt(), step_size=2, last_epoch=5)
    with pytest.raises(gk.ArgumentTypeError):
        StepLR(object(), step_size=2)
