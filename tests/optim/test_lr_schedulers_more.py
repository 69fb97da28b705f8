"""MultiStepLR, ExponentialLR, LinearLR, LambdaLR and ReduceLROnPlateau: their closed forms and hand-worked
sequences, state dicts, argument checks, how they use the groups' ``initial_lr``, and (when torch is
installed) PyTorch's own schedulers, number for number."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest

import gradkit as gk
from gradkit import optim
from gradkit.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    ReduceLROnPlateau,
    StepLR,
)

BASES = (0.1, 0.03)


def _opt(bases=BASES) -> optim.SGD:
    groups = [{"params": [gk.ones(2, requires_grad=True)], "lr": lr} for lr in bases]
    return optim.SGD(groups, lr=bases[0], momentum=0.9)


def _lrs(opt) -> list[float]:
    return [g["lr"] for g in opt.param_groups]


def _run(sched, opt, epochs: int) -> list[list[float]]:
    """The lrs each epoch sees: after construction, then after each step()."""
    seen = []
    for _ in range(epochs):
        seen.append(_lrs(opt))
        opt.step()
        sched.step()
    return seen


def _warm(epoch: int) -> float:
    return min(1.0, (epoch + 1) / 4)


# ------------------------------------------------------------------ closed forms, written out
CLOSED_FORMS = {
    "multistep": (
        lambda o: MultiStepLR(o, milestones=[5, 2, 9, 5], gamma=0.5),
        lambda base, e: base * 0.5 ** sum(m <= e for m in (2, 5, 5, 9)),
    ),
    "exponential": (lambda o: ExponentialLR(o, gamma=0.9), lambda base, e: base * 0.9**e),
    "linear-warmup": (lambda o: LinearLR(o), lambda base, e: base * (1 / 3 + (2 / 3) * min(e, 5) / 5)),
    "linear-decay": (
        lambda o: LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=4),
        lambda base, e: base * (1.0 - 0.9 * min(e, 4) / 4),
    ),
    "lambda": (lambda o: LambdaLR(o, lambda e: 0.95**e), lambda base, e: base * 0.95**e),
}


def check_recursive_steps(make, form, epochs: int) -> None:
    """``make(optimizer)``'s lrs over ``epochs`` epochs are ``form(base_lr, epoch)`` (test_lr_schedulers_extra's
    schedulers use it too, as the checks below)."""
    opt = _opt()
    seen = _run(make(opt), opt, epochs)
    for epoch, lrs in enumerate(seen):
        assert lrs == pytest.approx([form(b, epoch) for b in BASES], rel=1e-12, abs=1e-15), epoch


def check_closed_form_jumps(make, form) -> None:
    """``step(epoch)``, forward, back and to the same epoch again, sets ``form(base_lr, epoch)``."""
    opt = _opt()
    sched = make(opt)
    for epoch in (7, 1, 0, 12, 12, 3, 30):
        sched.step(epoch)
        assert sched.last_epoch == epoch
        assert _lrs(opt) == pytest.approx([form(b, epoch) for b in BASES], rel=1e-12, abs=1e-15), epoch
        assert sched.get_last_lr() == _lrs(opt)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_recursive_steps_follow_the_closed_form(name):
    check_recursive_steps(*CLOSED_FORMS[name], epochs=15)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_step_with_an_epoch_jumps_by_the_closed_form(name):
    check_closed_form_jumps(*CLOSED_FORMS[name])


def test_multistep_values_by_hand():
    opt = _opt((1.0,))
    seen = _run(MultiStepLR(opt, milestones=[2, 4, 4]), opt, 6)
    assert [lr for (lr,) in seen] == pytest.approx([1.0, 1.0, 0.1, 0.1, 1e-3, 1e-3], rel=1e-12)


def test_linear_warmup_values_by_hand():
    opt = _opt((0.3,))
    seen = _run(LinearLR(opt, start_factor=0.5, total_iters=2), opt, 5)
    assert [lr for (lr,) in seen] == pytest.approx([0.15, 0.225, 0.3, 0.3, 0.3], rel=1e-12)


def test_lambda_per_group_and_callable_objects():
    class Halving:
        def __init__(self):
            self.every = 2

        def __call__(self, epoch):
            return 0.5 ** (epoch // self.every)

    opt = _opt()
    seen = _run(LambdaLR(opt, [_warm, Halving()]), opt, 6)
    assert seen == [pytest.approx([0.1 * _warm(e), 0.03 * 0.5 ** (e // 2)], rel=1e-12) for e in range(6)]


def test_lambda_factors_may_be_0d_tensors_and_ints():
    opt = _opt()
    sched = LambdaLR(opt, [lambda e: gk.tensor(2.0, dtype="float64"), lambda e: e // 2])
    assert _lrs(opt) == [0.2, 0.0]
    sched.step()
    sched.step()
    assert _lrs(opt) == [0.2, 0.03]


# ------------------------------------------------------------------ ReduceLROnPlateau by hand
def test_plateau_patience_and_cooldown_by_hand():
    opt = _opt((1.0,))
    sched = ReduceLROnPlateau(opt, patience=2, cooldown=1, factor=0.5, threshold_mode="abs", threshold=0.01)
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8]
    seen = []
    for m in metrics:
        sched.step(m)
        seen.append(opt.param_groups[0]["lr"])
    # best 1.0, 0.9 (better by > 0.01); three epochs without it are more than patience: halve at epoch 5,
    # then one cooldown epoch (whose bad count is dropped), 0.8 is the new best, halve again at epoch 9
    assert seen == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert sched.best == 0.8 and sched.last_epoch == 10 and sched.get_last_lr() == [0.25]


def test_plateau_relative_threshold_max_mode_min_lr_and_eps():
    opt = _opt((1e-3, 1e-8))
    sched = ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.1, min_lr=[9.5e-4, 0.0])
    sched.step(1.0)  # the first metric is always an improvement
    sched.step(1.05)  # not > 1.0 * 1.1: a bad epoch, more than patience 0
    # group 0 stops at its min_lr; group 1's cut (5e-9... 9e-9) is below eps=1e-8, so it is skipped
    assert _lrs(opt) == [9.5e-4, 1e-8]
    sched.step(1.2)  # an improvement: nothing changes
    sched.step(1.0)
    assert _lrs(opt) == [9.5e-4, 1e-8] and sched.best == 1.2


def test_plateau_nan_metric_counts_as_no_improvement():
    opt = _opt((1.0,))
    sched = ReduceLROnPlateau(opt, patience=1)
    for m in (1.0, math.nan, math.nan):
        sched.step(m)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1) and sched.best == 1.0


def test_plateau_reads_a_0d_tensor_metric(device):
    opt = _opt((1.0,))
    sched = ReduceLROnPlateau(opt, patience=0)
    sched.step(gk.tensor(2.0, device=device))
    sched.step(gk.tensor(3.0, device=device, dtype="float64").sum())
    assert sched.best == 2.0 and opt.param_groups[0]["lr"] == pytest.approx(0.1)
    with pytest.raises(gk.ArgumentTypeError, match=r"ReduceLROnPlateau.step: metrics must be a number or a one-"):
        sched.step(gk.ones(2, device=device))


def test_plateau_with_one_min_lr_follows_added_groups_and_a_list_does_not():
    opt = _opt((1.0,))
    sched = ReduceLROnPlateau(opt, patience=0, min_lr=0.05)
    opt.add_param_group({"params": [gk.ones(1, requires_grad=True)], "lr": 0.2})
    sched.step(1.0)
    sched.step(2.0)
    assert _lrs(opt) == pytest.approx([0.1, 0.05])
    opt = _opt((1.0,))
    sched = ReduceLROnPlateau(opt, patience=0, min_lr=[0.05])
    opt.add_param_group({"params": [gk.ones(1, requires_grad=True)], "lr": 0.2})
    sched.step(1.0)
    with pytest.raises(gk.InvalidArgumentError, match="ReduceLROnPlateau.step: .* 2 parameter group.*min_lrs 1"):
        sched.step(2.0)


# ------------------------------------------------------------------ initial_lr
def test_schedulers_record_initial_lr_once_and_plateau_never():
    opt = _opt()
    LinearLR(opt, start_factor=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == list(BASES) and _lrs(opt) == [0.05, 0.015]
    second = ExponentialLR(opt, gamma=0.5)  # made on the warmed-down lrs: its base lrs are still the first ones
    assert second.base_lrs == list(BASES) and _lrs(opt) == [0.05, 0.015]
    second.step(2)
    assert _lrs(opt) == pytest.approx([0.025, 0.0075])
    fresh = _opt()
    ReduceLROnPlateau(fresh)
    assert all("initial_lr" not in g for g in fresh.param_groups) and _lrs(fresh) == list(BASES)


@pytest.mark.parametrize(
    "make",
    [
        lambda o, last: ExponentialLR(o, 0.5, last_epoch=last),
        lambda o, last: LinearLR(o, last_epoch=last),
        lambda o, last: MultiStepLR(o, [4, 5], last_epoch=last),
        lambda o, last: CosineAnnealingLR(o, T_max=6, last_epoch=last),
        lambda o, last: LambdaLR(o, _warm, last_epoch=last),
    ],
    ids=["exponential", "linear", "multistep", "cosine", "lambda"],
)
def test_resuming_from_an_optimiser_state_dict_continues_the_schedule(make):
    """A training resumed from the optimiser's state dict (which holds initial_lr) and a scheduler made
    with the last epoch: the constructor's step leaves the loaded lrs alone (PyTorch 2.13)."""
    opt = _opt()
    sched = make(opt, -1)
    for _ in range(3):
        opt.step()
        sched.step()
    assert sched.last_epoch == 3
    resumed = _opt()
    resumed.load_state_dict(opt.state_dict())
    assert [g["initial_lr"] for g in resumed.param_groups] == list(BASES)
    again = make(resumed, 2)
    expected_now = _lrs(opt) if not isinstance(again, LambdaLR) else [b * _warm(3) for b in BASES]
    assert again.last_epoch == 3 and _lrs(resumed) == pytest.approx(expected_now, rel=1e-12)
    if not isinstance(again, (LambdaLR, CosineAnnealingLR)):  # recursive: the same lrs from here on
        for _ in range(5):
            sched.step()
            again.step()
            assert _lrs(resumed) == _lrs(opt)


def test_last_epoch_needs_initial_lr_and_initial_lr_must_be_a_learning_rate():
    with pytest.raises(gk.InvalidArgumentError, match="ExponentialLR: last_epoch=3 but parameter group 0 has no"):
        ExponentialLR(_opt(), 0.5, last_epoch=3)
    opt = _opt()
    opt.param_groups[1]["initial_lr"] = -1.0
    with pytest.raises(gk.InvalidArgumentError, match=r"LinearLR: parameter group 1's 'initial_lr' must be >= 0"):
        LinearLR(opt)


def test_a_group_added_after_the_scheduler():
    """Recursive forms carry on over the new group (as PyTorch); what needs base_lrs says what happened."""
    opt = _opt()
    sched = ExponentialLR(opt, 0.5)
    opt.add_param_group({"params": [gk.ones(1, requires_grad=True)], "lr": 0.4})
    sched.step()
    assert _lrs(opt) == pytest.approx([0.05, 0.015, 0.2])
    with pytest.raises(gk.InvalidArgumentError, match=r"ExponentialLR.step: the optimiser has 3 parameter group"):
        sched.step(4)
    opt = _opt()
    sched = LambdaLR(opt, _warm)
    opt.add_param_group({"params": [gk.ones(1, requires_grad=True)], "lr": 0.4})
    with pytest.raises(gk.InvalidArgumentError, match=r"LambdaLR.step: the optimiser has 3 parameter group"):
        sched.step()


def test_closed_form_overflow_is_an_error():
    sched = ExponentialLR(_opt(), gamma=1.5)
    with pytest.raises(gk.InvalidArgumentError, match=r"ExponentialLR.step: gamma \*\* 1000000 .* overflows"):
        sched.step(10**6)
    sched.step(3)
    assert sched.get_last_lr() == pytest.approx([b * 1.5**3 for b in BASES])


# ------------------------------------------------------------------ state dicts
def _makers():
    return {
        "multistep": lambda o: MultiStepLR(o, [2, 2, 5], gamma=0.3),
        "exponential": lambda o: ExponentialLR(o, 0.8),
        "linear": lambda o: LinearLR(o, start_factor=0.2, total_iters=6),
        "lambda": lambda o: LambdaLR(o, _warm),
    }


def check_checkpoint_round_trip(make, tmp_path):
    """Step ``make(optimizer)`` 3 times, save it and its optimiser with gk.save, load both into new ones, and
    step both 6 more times: the same state dict (holding no function), and the same lrs and momenta at
    every step. Returns the resumed scheduler. (test_lr_schedulers_extra's schedulers use it too.)"""

    def groups(opt):
        return [(g["lr"], g["betas"][0] if "betas" in g else g["momentum"]) for g in opt.param_groups]

    opt = _opt()
    sched = make(opt)
    _run(sched, opt, 3)
    gk.save({"sched": sched.state_dict(), "optim": opt.state_dict()}, tmp_path / "ckpt.safetensors")
    saved = gk.load(tmp_path / "ckpt.safetensors")
    opt2 = _opt()
    sched2 = make(opt2)
    opt2.load_state_dict(saved["optim"])
    sched2.load_state_dict(saved["sched"])
    assert sched2.state_dict() == sched.state_dict()
    assert not any(callable(v) for v in sched.state_dict().values())
    for _ in range(6):
        assert groups(opt2) == groups(opt)
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
    assert groups(opt2) == groups(opt)
    return sched2


@pytest.mark.parametrize("name", sorted(_makers()))
def test_state_dict_round_trip_through_a_checkpoint_continues_identically(name, tmp_path):
    sched2 = check_checkpoint_round_trip(_makers()[name], tmp_path)
    assert sched2.last_epoch == 9
    if name == "multistep":
        assert isinstance(sched2.milestones, Counter) and sched2.milestones == Counter({2: 2, 5: 1})


class Power:
    """``rate ** x``: a callable object, whose attributes a scheduler's state dict saves (used by
    test_lr_schedulers_extra too)."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, x):
        return self.rate**x


def test_lambda_state_dict_holds_no_functions_but_restores_callable_objects():
    opt = _opt()
    sched = LambdaLR(opt, [lambda e: 1.0, Power(0.5)])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [None, {"rate": 0.5}]
    assert not any(callable(v) for v in sd.values())
    sched.lr_lambdas[1].rate = 0.9
    other = LambdaLR(_opt(), [lambda e: 1.0, Power(0.1)])
    other.load_state_dict(sched.state_dict())
    assert other.lr_lambdas[1].rate == 0.9 and sd["lr_lambdas"] == [None, {"rate": 0.5}]
    other.step()
    assert other.get_last_lr() == pytest.approx([0.1, 0.03 * 0.9])


def test_plateau_state_dict_round_trip_through_a_checkpoint(tmp_path):
    opt = _opt()
    sched = ReduceLROnPlateau(opt, mode="max", patience=1, cooldown=2, min_lr=[0.0, 0.01])
    for m in (1.0, 0.5, 0.4, 0.3):
        sched.step(m)
    gk.save(sched.state_dict(), tmp_path / "s.safetensors")
    other = ReduceLROnPlateau(_opt(), min_lr=[0.0, 0.0])
    other.load_state_dict(gk.load(tmp_path / "s.safetensors"))
    assert other.state_dict() == sched.state_dict()
    # 1.0 is the best, 0.5 and 0.4 are two bad epochs (more than patience 1): a cut, then one cooldown epoch
    assert other.mode == "max" and other.mode_worse == -math.inf and other.cooldown_counter == 1
    assert _lrs(other.optimizer) == list(BASES)  # the lrs live in the optimiser's state dict, not here


@pytest.mark.parametrize(
    ("make", "bad", "error", "match"),
    [
        (_makers()["multistep"], {"milestones": [1, 2]}, gk.ArgumentTypeError, "milestones must be a Counter"),
        (_makers()["multistep"], {"milestones": {3: 0}}, gk.InvalidArgumentError, r"milestones\[3\] \(a count\)"),
        (_makers()["multistep"], {"gamma": -0.5}, gk.InvalidArgumentError, "gamma must be >= 0"),
        (_makers()["exponential"], {"gamma": "0.5"}, gk.ArgumentTypeError, "gamma must be a number"),
        (_makers()["exponential"], {"base_lrs": [0.1, -1.0]}, gk.InvalidArgumentError, r"base_lrs\[1\]"),
        (_makers()["exponential"], {"_step_count": -1}, gk.InvalidArgumentError, "_step_count"),
        (_makers()["linear"], {"total_iters": 0}, gk.InvalidArgumentError, "total_iters must be >= 1"),
        (_makers()["linear"], {"start_factor": 0.0}, gk.InvalidArgumentError, "start_factor must be > 0"),
        (_makers()["linear"], {"end_factor": 1.5}, gk.InvalidArgumentError, "end_factor must be <= 1"),
        (_makers()["lambda"], {"lr_lambdas": [None]}, gk.InvalidArgumentError, "lr_lambdas must be a list of 2"),
        (_makers()["lambda"], {"lr_lambdas": [None, 3]}, gk.ArgumentTypeError, r"lr_lambdas\[1\] must be None"),
        (_makers()["lambda"], {"lr_lambdas": [{"k": 1}, None]}, gk.InvalidArgumentError, "no state to restore"),
        (_makers()["lambda"], {"last_epoch": -4}, gk.InvalidArgumentError, "last_epoch must be >= -1"),
        (lambda o: ReduceLROnPlateau(o), {"mode": "mean"}, gk.InvalidArgumentError, "mode must be 'min' or 'max'"),
        (lambda o: ReduceLROnPlateau(o), {"best": math.nan}, gk.InvalidArgumentError, "best must be a number"),
        (lambda o: ReduceLROnPlateau(o), {"num_bad_epochs": -1}, gk.InvalidArgumentError, "num_bad_epochs"),
        (lambda o: ReduceLROnPlateau(o), {"factor": 1.0}, gk.InvalidArgumentError, "factor must be < 1.0"),
        (lambda o: ReduceLROnPlateau(o), {"min_lrs": [0.1], "default_min_lr": None}, gk.InvalidArgumentError,
         "min_lrs has 1 entries"),
        (lambda o: ReduceLROnPlateau(o), {"optimizer": None}, gk.InvalidArgumentError, "may not hold an 'optimizer'"),
    ],
)
def test_load_state_dict_checks_everything_before_changing_anything(make, bad, error, match):
    sched = make(_opt())
    before = repr(sched.state_dict())
    with pytest.raises(error, match=f"{type(sched).__name__}.load_state_dict: .*{match}"):
        sched.load_state_dict({**sched.state_dict(), **bad})
    assert repr(sched.state_dict()) == before


def test_pytorchs_transient_flag_is_not_loaded():
    sched = ExponentialLR(_opt(), 0.5)
    sched.load_state_dict({**sched.state_dict(), "_is_initial": True, "_get_lr_called_within_step": False})
    assert "_is_initial" not in sched.state_dict()
    sched.step()
    assert sched.get_last_lr() == pytest.approx([0.05, 0.015])


# ------------------------------------------------------------------ argument checks
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda o: MultiStepLR(o, [3, -1]), gk.InvalidArgumentError, r"MultiStepLR: milestones\[1\] must be >= 0"),
        (lambda o: MultiStepLR(o, [1.5]), gk.ArgumentTypeError, r"MultiStepLR: milestones\[0\] must be an int"),
        (lambda o: MultiStepLR(o, 5), gk.ArgumentTypeError, "MultiStepLR: milestones must be a list of epochs"),
        (lambda o: MultiStepLR(o, "12"), gk.ArgumentTypeError, "MultiStepLR: milestones must be a list"),
        (lambda o: MultiStepLR(o, {3: 1}), gk.ArgumentTypeError, "MultiStepLR: milestones must be a list"),
        (lambda o: MultiStepLR(o, [3], gamma=-1), gk.InvalidArgumentError, "MultiStepLR: gamma must be >= 0"),
        (lambda o: ExponentialLR(o, gamma="a"), gk.ArgumentTypeError, "ExponentialLR: gamma must be a number"),
        (lambda o: ExponentialLR(o, gamma=math.nan), gk.InvalidArgumentError, "ExponentialLR: gamma"),
        (lambda o: ExponentialLR(o, 0.5, last_epoch=-2), gk.InvalidArgumentError, "last_epoch must be >= -1"),
        (lambda o: LinearLR(o, start_factor=0), gk.InvalidArgumentError, "LinearLR: start_factor must be > 0"),
        (lambda o: LinearLR(o, start_factor=1.5), gk.InvalidArgumentError, "LinearLR: start_factor must be <= 1"),
        (lambda o: LinearLR(o, end_factor=-0.1), gk.InvalidArgumentError, "LinearLR: end_factor must be >= 0"),
        (lambda o: LinearLR(o, total_iters=0), gk.InvalidArgumentError, "LinearLR: total_iters must be >= 1"),
        (lambda o: LinearLR(o, total_iters=2.5), gk.ArgumentTypeError, "LinearLR: total_iters must be an int"),
        (lambda o: LambdaLR(o, [_warm]), gk.InvalidArgumentError, r"LambdaLR: expected one lr_lambda .*\(2\), got 1"),
        (lambda o: LambdaLR(o, 3), gk.ArgumentTypeError, "LambdaLR: lr_lambda must be a function"),
        (lambda o: LambdaLR(o, [_warm, 0.5]), gk.ArgumentTypeError, r"LambdaLR: lr_lambda\[1\] must be a function"),
        (lambda o: LambdaLR(o, lambda e: -1), gk.InvalidArgumentError,
         r"LambdaLR: lr_lambda\(0\) for parameter group 0 must be >= 0"),
        (lambda o: LambdaLR(o, lambda e: "x"), gk.ArgumentTypeError, r"LambdaLR: lr_lambda\(0\) .* must be a number"),
        (lambda o: LambdaLR(o, lambda e: np.ones(2)), gk.ArgumentTypeError, r"lr_lambda\(0\) .* must be a number"),
        (lambda o: ReduceLROnPlateau(o, mode="mean"), gk.InvalidArgumentError, "ReduceLROnPlateau: mode must be"),
        (lambda o: ReduceLROnPlateau(o, mode=None), gk.ArgumentTypeError, "ReduceLROnPlateau: mode must be a str"),
        (lambda o: ReduceLROnPlateau(o, factor=1.0), gk.InvalidArgumentError, "ReduceLROnPlateau: factor must be < 1"),
        (lambda o: ReduceLROnPlateau(o, factor=-0.1), gk.InvalidArgumentError, "ReduceLROnPlateau: factor must be >="),
        (lambda o: ReduceLROnPlateau(o, patience=-1), gk.InvalidArgumentError, "ReduceLROnPlateau: patience"),
        (lambda o: ReduceLROnPlateau(o, threshold=-1e-4), gk.InvalidArgumentError, "ReduceLROnPlateau: threshold "),
        (lambda o: ReduceLROnPlateau(o, threshold_mode="x"), gk.InvalidArgumentError, "threshold_mode must be 'rel'"),
        (lambda o: ReduceLROnPlateau(o, cooldown=1.5), gk.ArgumentTypeError, "ReduceLROnPlateau: cooldown must be"),
        (lambda o: ReduceLROnPlateau(o, min_lr=[0.1]), gk.InvalidArgumentError, r"one min_lr per .*\(2\), got 1"),
        (lambda o: ReduceLROnPlateau(o, min_lr=[0.1, -1]), gk.InvalidArgumentError, r"min_lr\[1\] must be >= 0"),
        (lambda o: ReduceLROnPlateau(o, min_lr="0"), gk.ArgumentTypeError, "min_lr must be a number"),
        (lambda o: ReduceLROnPlateau(o, eps=-1), gk.InvalidArgumentError, "ReduceLROnPlateau: eps must be >= 0"),
        (lambda o: ReduceLROnPlateau(o).step("low"), gk.ArgumentTypeError, "ReduceLROnPlateau.step: metrics must"),
        (lambda o: ReduceLROnPlateau(o).step(None), gk.ArgumentTypeError, "ReduceLROnPlateau.step: metrics must"),
        (lambda o: ReduceLROnPlateau(o).step(1.0, epoch=-1), gk.InvalidArgumentError, "epoch must be >= 0"),
    ],
)
def test_invalid_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make(_opt())


@pytest.mark.parametrize("cls", [MultiStepLR, ExponentialLR, LinearLR, LambdaLR, ReduceLROnPlateau])
def test_an_optimiser_is_required(cls):
    args = {MultiStepLR: ([1],), ExponentialLR: (0.5,), LambdaLR: (_warm,)}.get(cls, ())
    with pytest.raises(gk.ArgumentTypeError, match=f"{cls.__name__}: expected an optimiser, got object"):
        cls(object(), *args)


# ------------------------------------------------------------------ PyTorch, number for number
def _torch_pair(bases=BASES):
    torch = pytest.importorskip("torch")
    tparams = [torch.nn.Parameter(torch.ones(2, dtype=torch.float64)) for _ in bases]
    topt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(tparams, bases, strict=True)], lr=bases[0])
    return torch, topt, _opt(bases)


TORCH_CASES = [
    ("MultiStepLR", {"milestones": [3, 7, 7, 12], "gamma": 0.3}),
    ("MultiStepLR", {"milestones": [12, 0, 5], "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("ExponentialLR", {"gamma": 1.07}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.05, "total_iters": 13}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.2, "total_iters": 9}),
    ("LinearLR", {"start_factor": 0.5, "end_factor": 0.0, "total_iters": 4}),
    ("LambdaLR", {"lr_lambda": [_warm, lambda e: 1 / (1 + e)]}),
]


@pytest.mark.parametrize(("name", "kwargs"), TORCH_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_CASES)])
def test_pytorch_gives_the_same_learning_rates(name, kwargs):
    """Bit for bit: the recursive steps, step(epoch)'s closed forms, and a resume with last_epoch."""
    torch, topt, opt = _torch_pair()
    from gradkit.optim import lr_scheduler as G

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns about the order of steps and step(epoch)
        tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
        sched = getattr(G, name)(opt, **kwargs)
        for epoch in range(30):
            assert _lrs(opt) == _lrs(topt), epoch
            assert sched.get_last_lr() == tsched.get_last_lr()
            topt.step()
            tsched.step()
            sched.step()
        for epoch in (5, 1, 0, 13, 13, 40, 7):
            tsched.step(epoch)
            sched.step(epoch)
            assert _lrs(opt) == _lrs(topt), epoch
        for last in (0, 4):
            torch_, topt, opt = _torch_pair()
            for o in (topt, opt):
                for g in o.param_groups:
                    g["initial_lr"], g["lr"] = g["lr"], g["lr"] * 0.37
            tsched = getattr(torch.optim.lr_scheduler, name)(topt, last_epoch=last, **kwargs)
            sched = getattr(G, name)(opt, last_epoch=last, **kwargs)
            for _ in range(12):
                assert _lrs(opt) == _lrs(topt) and sched.last_epoch == tsched.last_epoch
                tsched.step()
                sched.step()


def test_pytorch_plateau_gives_the_same_learning_rates():
    torch, _, _ = _torch_pair()
    rng = np.random.default_rng(0)
    configs = 0
    for mode in ("min", "max"):
        for threshold_mode in ("rel", "abs"):
            for patience, cooldown, min_lr, factor, threshold in (
                (0, 0, 0, 0.5, 1e-4),
                (2, 3, 1e-3, 0.1, 0.0),
                (1, 1, [1e-4, 0.02], 0.3, 0.1),
                (3, 0, 0, 0.0, 1e-2),
            ):
                _, topt, opt = _torch_pair()
                kwargs = {"mode": mode, "threshold_mode": threshold_mode, "patience": patience, "cooldown": cooldown,
                          "min_lr": min_lr, "factor": factor, "threshold": threshold}
                tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
                sched = ReduceLROnPlateau(opt, **kwargs)
                metrics = rng.choice([1.0, 0.99, 0.5, 2.0, math.nan, math.inf], 50) * rng.random(50)
                metrics[::7] = 1.0  # plateaus
                for i, m in enumerate(metrics):
                    tsched.step(float(m))
                    sched.step(gk.tensor(m, dtype="float64") if i % 2 else float(m))
                    assert _lrs(opt) == _lrs(topt), (kwargs, i)
                    assert (sched.num_bad_epochs, sched.cooldown_counter) == (
                        tsched.num_bad_epochs, tsched.cooldown_counter)
                    assert sched.best == tsched.best or (math.isnan(sched.best) and math.isnan(tsched.best))
                assert set(sched.state_dict()) == set(tsched.state_dict())
                configs += 1
    assert configs == 16


def test_pytorch_state_dicts_load_into_gradkit_schedulers():
    torch, topt, opt = _torch_pair()
    T = torch.optim.lr_scheduler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = [
            (T.MultiStepLR(topt, [2, 2, 5], gamma=0.5), MultiStepLR(opt, [9])),
            (T.ExponentialLR(topt, 0.9), ExponentialLR(opt, 0.5)),
            (T.LinearLR(topt, start_factor=0.25, total_iters=7), LinearLR(opt)),
            (T.LambdaLR(topt, _warm), LambdaLR(opt, _warm)),
            (T.StepLR(topt, 3, gamma=0.5), StepLR(opt, 2)),
        ]
        for tsched, sched in pairs:
            for _ in range(4):
                tsched.step()
            sched.load_state_dict(tsched.state_dict())
            assert "_is_initial" not in sched.state_dict()
            for epoch in (6, 2, 9):  # the closed forms read everything the state dict brought
                tsched.step(epoch)
                sched.step(epoch)
                assert _lrs(opt) == _lrs(topt), (type(sched).__name__, epoch)
    tplateau = T.ReduceLROnPlateau(topt, mode="max", patience=1, min_lr=[0.0, 0.001])
    for m in (1.0, 0.5, 0.4, 2.0):
        tplateau.step(m)
    plateau = ReduceLROnPlateau(opt, min_lr=[0.0, 0.0])
    plateau.load_state_dict(tplateau.state_dict())
    for g, h in zip(opt.param_groups, topt.param_groups, strict=True):
        g["lr"] = h["lr"]  # the lrs come with the optimiser's state dict
    for m in (1.0, 1.5, 0.1, 0.1, 3.0):
        tplateau.step(m)
        plateau.step(m)
        assert _lrs(opt) == _lrs(topt)
