"""ConstantLR, PolynomialLR, MultiplicativeLR, CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR,
SequentialLR and ChainedScheduler: closed forms written out, state dicts, argument checks and (when torch
is installed) PyTorch's own schedulers, number for number."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from test_lr_schedulers_more import Power, check_checkpoint_round_trip, check_closed_form_jumps, check_recursive_steps

import gradkit as gk
from gradkit import optim
from gradkit.optim import lr_scheduler as G
from gradkit.optim.lr_scheduler import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    CyclicLR,
    ExponentialLR,
    LinearLR,
    MultiplicativeLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

BASES = (0.1, 0.03)


def _opt(bases=BASES, kind=optim.SGD, **kwargs) -> optim.Optimizer:
    groups = [{"params": [gk.ones(2, requires_grad=True)], "lr": lr} for lr in bases]
    if kind is optim.SGD:
        kwargs.setdefault("momentum", 0.9)
    return kind(groups, lr=bases[0], **kwargs)


def _lrs(opt) -> list[float]:
    return [g["lr"] for g in opt.param_groups]


def _momenta(opt) -> list[float]:
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def _run(sched, opt, steps: int) -> list[list[float]]:
    """The lrs each step sees: after construction, then after each step()."""
    seen = []
    for _ in range(steps):
        seen.append(_lrs(opt))
        sched.step()
    return seen


def _half_cosine(start: float, end: float, pct: float) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * pct)) / 2


def _sgdr(base: float, epoch: float, t0: int, mult: int, eta: float) -> float:
    """SGDR by walking the periods: t0, t0 * mult, ..."""
    period = t0
    while epoch >= period:
        epoch -= period
        period *= mult
    return _half_cosine(base, eta, epoch / period)


def _cyclic(base: float, top: float, e: int, up: int, down: int, halving: bool = False) -> float:
    c = e % (up + down)
    frac = c / up if c <= up else (up + down - c) / down
    return base + (top - base) * frac * (0.5 ** (e // (up + down)) if halving else 1.0)


def _one_cycle(e: int, start: float, top: float, low: float, total: int, pct: float) -> float:
    """Two phases: up over steps 0 .. pct * total - 1, then down to the last step."""
    up_end = pct * total - 1
    if e <= up_end:
        return _half_cosine(start, top, e / up_end)
    return _half_cosine(top, low, (e - up_end) / (total - 1 - up_end))


def _mult_factor(e: int) -> float:
    return 0.9 if e % 2 else 0.8


# ------------------------------------------------------------------ closed forms, written out
CLOSED_FORMS = {
    "constant": (lambda o: ConstantLR(o), lambda b, e: b / 3 if e < 5 else b),
    "constant-half": (lambda o: ConstantLR(o, factor=0.5, total_iters=2), lambda b, e: b * (0.5 if e < 2 else 1)),
    "polynomial": (lambda o: PolynomialLR(o), lambda b, e: b * (1 - min(e, 5) / 5)),
    "polynomial-squared": (
        lambda o: PolynomialLR(o, total_iters=4, power=2.0),
        lambda b, e: b * (1 - min(e, 4) / 4) ** 2,
    ),
    "multiplicative": (
        lambda o: MultiplicativeLR(o, _mult_factor),
        lambda b, e: b * math.prod(_mult_factor(k) for k in range(1, e + 1)),
    ),
    "warm-restarts": (
        lambda o: CosineAnnealingWarmRestarts(o, T_0=4, eta_min=0.001),
        lambda b, e: _sgdr(b, e, 4, 1, 0.001),
    ),
    "warm-restarts-doubling": (
        lambda o: CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2),
        lambda b, e: _sgdr(b, e, 2, 2, 0.0),
    ),
    "cyclic": (
        lambda o: CyclicLR(o, 0.01, 0.1, step_size_up=2, step_size_down=3),
        lambda b, e: _cyclic(0.01, 0.1, e, 2, 3),
    ),
    "cyclic-halving": (
        lambda o: CyclicLR(o, 0.01, 0.1, step_size_up=2, mode="triangular2"),
        lambda b, e: _cyclic(0.01, 0.1, e, 2, 2, halving=True),
    ),
    "cyclic-exp-range": (
        lambda o: CyclicLR(o, 0.01, 0.1, step_size_up=3, mode="exp_range", gamma=0.9),
        lambda b, e: 0.01 + (_cyclic(0.01, 0.1, e, 3, 3) - 0.01) * 0.9**e,
    ),
    "one-cycle": (
        lambda o: OneCycleLR(o, max_lr=1.0, total_steps=20, anneal_strategy="cos"),
        lambda b, e: _one_cycle(e, 1.0 / 25, 1.0, 1.0 / 25 / 1e4, 20, 0.3),
    ),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_recursive_steps_follow_the_closed_form(name):
    check_recursive_steps(*CLOSED_FORMS[name], epochs=20)


@pytest.mark.parametrize("name", ["constant", "polynomial-squared", "warm-restarts", "warm-restarts-doubling"])
def test_step_with_an_epoch_jumps_by_the_closed_form(name):
    check_closed_form_jumps(*CLOSED_FORMS[name])


def test_warm_restarts_step_every_batch_with_a_fractional_epoch():
    opt = _opt()
    sched = CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2, eta_min=0.001)
    for epoch in range(7):
        for i in range(4):
            sched.step(epoch + i / 4)
            assert _lrs(opt) == pytest.approx([_sgdr(b, epoch + i / 4, 2, 2, 0.001) for b in BASES], rel=1e-12)
            assert sched.last_epoch == epoch
    sched.step()  # after step(6.75): epoch 7, one epoch further into the period that began at 6
    assert sched.last_epoch == 7 and _lrs(opt) == pytest.approx([_sgdr(b, 7.75, 2, 2, 0.001) for b in BASES])


def test_one_cycle_and_cyclic_move_the_momentum_the_other_way():
    opt = _opt()
    sched = OneCycleLR(opt, max_lr=1.0, epochs=2, steps_per_epoch=5, base_momentum=0.8, max_momentum=0.9)
    assert sched.total_steps == 10 and _momenta(opt) == [0.9, 0.9]
    for e in range(10):
        m = _one_cycle(e, 0.9, 0.8, 0.9, 10, 0.3)  # momentum: down while the lr goes up, then back
        assert _momenta(opt) == pytest.approx([m, m], rel=1e-12), e
        sched.step()
    group = opt.param_groups[0]
    assert (group["initial_lr"], group["max_lr"], group["min_lr"]) == (0.04, 1.0, 0.04 / 1e4)
    adam = _opt(kind=optim.Adam, betas=(0.5, 0.99))
    CyclicLR(adam, 0.01, 0.1, step_size_up=2, base_momentum=[0.7, 0.6], max_momentum=0.95).step()
    assert [g["betas"] for g in adam.param_groups] == [pytest.approx((0.825, 0.99)), pytest.approx((0.775, 0.99))]


def test_one_cycle_three_phases_and_a_straight_line():
    opt = _opt((1.0,))
    seen = _run(OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.3, anneal_strategy="linear",
                           div_factor=10, final_div_factor=100, three_phase=True), opt, 10)  # fmt: skip
    # up 0.1 -> 1 over steps 0..2, down to 0.1 over 3..4, then to 0.001 over 5..9
    expected = [0.1, 0.55, 1.0, 0.55, 0.1, 0.0802, 0.0604, 0.0406, 0.0208, 0.001]
    assert [lr for (lr,) in seen] == pytest.approx(expected, rel=1e-12)


def test_stepping_one_cycle_past_total_steps_raises_and_changes_nothing():
    opt = _opt()
    sched = OneCycleLR(opt, max_lr=0.5, total_steps=4)
    for _ in range(4):
        sched.step()  # step total_steps is still allowed (PyTorch's rule)
    before = (_lrs(opt), _momenta(opt), sched.state_dict())
    with pytest.raises(gk.InvalidArgumentError, match="OneCycleLR.step: tried to step 5 times; .*total_steps=4"):
        sched.step()
    with pytest.raises(ValueError, match="tried to step 9 times"):  # what PyTorch raises
        sched.step(9)
    assert (_lrs(opt), _momenta(opt), sched.state_dict()) == before


def test_cyclic_starts_at_base_lr_and_its_first_lr_is_initial_lr():
    opt = _opt()
    CyclicLR(opt, base_lr=[0.002, 0.001], max_lr=0.1, cycle_momentum=False)
    assert _lrs(opt) == [0.002, 0.001] and _momenta(opt) == [0.9, 0.9]
    opt = _opt()
    ExponentialLR(opt, 0.5)  # records initial_lr = the groups' lrs, which CyclicLR's first step uses (as PyTorch)
    sched = CyclicLR(opt, base_lr=0.002, max_lr=0.1, step_size_up=4)
    assert _lrs(opt) == list(BASES)
    sched.step()
    assert _lrs(opt) == pytest.approx([0.002 + 0.098 / 4] * 2)


def test_cyclic_custom_scale_function_of_iterations():
    opt = _opt((0.0,), momentum=0.0)
    sched = CyclicLR(opt, 0.0, 1.0, step_size_up=1, scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations",
                     cycle_momentum=False)  # fmt: skip
    assert [lr for (lr,) in _run(sched, opt, 5)] == pytest.approx([0.0, 1 / 2, 0.0, 1 / 4, 0.0])


def test_sequential_warm_up_then_decay_by_hand():
    opt = _opt((1.0,))
    warm = LinearLR(opt, start_factor=0.1, total_iters=4)
    decay = ExponentialLR(opt, gamma=0.5)
    sched = SequentialLR(opt, [warm, decay], milestones=[4])
    seen = [lr for (lr,) in _run(sched, opt, 8)]
    assert seen == pytest.approx([0.1, 0.325, 0.55, 0.775, 1.0, 0.5, 0.25, 0.125], rel=1e-12)
    assert sched.last_epoch == 8 and decay.last_epoch == 4 and sched.get_last_lr() == _lrs(opt)


def test_chained_schedulers_multiply():
    opt = _opt()
    sched = ChainedScheduler([ConstantLR(opt, factor=0.1, total_iters=2), ExponentialLR(opt, gamma=0.9)])
    assert sched.optimizer is opt
    for epoch, lrs in enumerate(_run(sched, opt, 6)):
        assert lrs == pytest.approx([b * 0.9**epoch * (0.1 if epoch < 2 else 1) for b in BASES], rel=1e-12)
    assert sched.get_last_lr() == _lrs(opt)


def test_a_chained_or_sequential_step_that_raises_changes_nothing():
    """The third step's MultiplicativeLR raises after OneCycleLR and ExponentialLR have set the lrs and beta1."""

    def chain(opt):
        fails = MultiplicativeLR(opt, lambda e: -1.0 if e == 3 else 1.0)
        return ChainedScheduler([OneCycleLR(opt, 1.0, total_steps=10), ExponentialLR(opt, 0.5), fails])

    for make in (chain, lambda opt: SequentialLR(opt, [chain(opt), ExponentialLR(opt, 0.9)], [5])):
        opt = _opt(kind=optim.Adam)
        sched = make(opt)
        sched.step()
        sched.step()
        before = (_lrs(opt), _momenta(opt), repr(sched.state_dict()))
        with pytest.raises(gk.InvalidArgumentError, match=r"lr_lambda\(3\) for parameter group 0 must be >= 0"):
            sched.step()
        assert (_lrs(opt), _momenta(opt), repr(sched.state_dict())) == before


def test_warm_restarts_reach_any_period_and_epoch():
    opt = _opt()
    sched = CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=10)
    sched.step(1e308)  # PyTorch's logarithm overflows here: the periods are walked exactly
    assert _lrs(opt) == pytest.approx([_sgdr(b, int(1e308), 2, 10, 0.0) for b in BASES], rel=1e-12)
    for t_0, t_mult in ((10**400, 1), (1, 10**400)):  # periods beyond the float range
        opt = _opt()
        _run(CosineAnnealingWarmRestarts(opt, T_0=t_0, T_mult=t_mult), opt, 3)
        assert _lrs(opt) == list(BASES)


def test_one_cycle_momentum_reaches_the_optimiser(device):
    p = gk.tensor([1.0, -2.0], dtype="float64", device=device, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.5)
    sched = OneCycleLR(opt, max_lr=0.5, total_steps=6)
    ref, buf = np.array([1.0, -2.0]), None
    for _ in range(6):
        lr, m = opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]
        (p * p).sum().backward()
        opt.step()
        opt.zero_grad()
        buf = 2 * ref if buf is None else m * buf + 2 * ref
        ref = ref - lr * buf
        sched.step()
    np.testing.assert_allclose(np.asarray(p.tolist()), ref, rtol=1e-12)


# ------------------------------------------------------------------ state dicts
def _makers():
    return {
        "constant": lambda o: ConstantLR(o, factor=0.25, total_iters=4),
        "polynomial": lambda o: PolynomialLR(o, total_iters=7, power=1.5),
        "multiplicative": lambda o: MultiplicativeLR(o, [_mult_factor, lambda e: 0.99]),
        "warm-restarts": lambda o: CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3),
        "cyclic": lambda o: CyclicLR(o, 0.01, [0.1, 0.2], step_size_up=2, mode="exp_range", gamma=0.95),
        "one-cycle": lambda o: OneCycleLR(o, 1.0, total_steps=12, three_phase=True),
        "sequential": lambda o: SequentialLR(o, [ConstantLR(o, 0.5, 2), CosineAnnealingLR(o, 5)], [3]),
        "chained": lambda o: ChainedScheduler([PolynomialLR(o, 6), CosineAnnealingWarmRestarts(o, 3)]),
    }


@pytest.mark.parametrize("name", sorted(_makers()))
def test_state_dict_round_trip_through_a_checkpoint_continues_identically(name, tmp_path):
    check_checkpoint_round_trip(_makers()[name], tmp_path)  # test_lr_schedulers_more's check, on these


def test_function_state_of_callable_objects_is_saved_and_restored():
    sched = CyclicLR(_opt(), 0.01, 0.1, step_size_up=2, scale_fn=Power(0.5))
    assert sched.state_dict()["_scale_fn_custom"] == {"rate": 0.5}
    other = CyclicLR(_opt(), 0.01, 0.1, step_size_up=2, scale_fn=Power(0.9))
    other.load_state_dict(sched.state_dict())
    assert other._scale_fn_custom.rate == 0.5 and other.scale_mode == "cycle"
    mult = MultiplicativeLR(_opt(), [Power(0.5), _mult_factor])
    assert mult.state_dict()["lr_lambdas"] == [{"rate": 0.5}, None]


def _bad_sub_state(o):
    sched = _makers()["sequential"](o)
    state = sched.state_dict()
    state["_schedulers"][1]["T_max"] = 0
    return state


@pytest.mark.parametrize(
    ("name", "bad", "error", "match"),
    [
        ("constant", {"factor": 0.0}, gk.InvalidArgumentError, "factor must be > 0"),
        ("polynomial", {"power": -1.0}, gk.InvalidArgumentError, "power must be >= 0"),
        ("multiplicative", {"lr_lambdas": [None]}, gk.InvalidArgumentError, "lr_lambdas must be a list of 2"),
        ("warm-restarts", {"T_i": 0}, gk.InvalidArgumentError, "T_i must be >= 1"),
        ("warm-restarts", {"T_cur": math.inf}, gk.InvalidArgumentError, "T_cur must be finite"),
        ("cyclic", {"mode": "sine"}, gk.InvalidArgumentError, "mode must be 'triangular'"),
        ("cyclic", {"step_ratio": 1.5}, gk.InvalidArgumentError, "step_ratio must be <= 1"),
        ("cyclic", {"_scale_fn_custom": {"k": 1}}, gk.InvalidArgumentError, "no state to restore"),
        ("one-cycle", {"total_steps": 0}, gk.InvalidArgumentError, "total_steps must be >= 1"),
        ("one-cycle", {"_anneal_func_type": "exp"}, gk.InvalidArgumentError, "_anneal_func_type must be 'cos'"),
        ("one-cycle", {"_schedule_phases": [{"end_step": 0.0}]}, gk.ArgumentTypeError, "list of 2 or 3 phases"),
        ("one-cycle", {"use_beta1": True}, gk.InvalidArgumentError, "use_beta1 does not fit this SGD"),
        ("sequential", {"_milestones": [1, 2]}, gk.InvalidArgumentError, "_milestones must hold 1 epochs"),
        ("sequential", {"_schedulers": [{}]}, gk.InvalidArgumentError, "_schedulers must be a list of 2"),
        ("sequential", _bad_sub_state, gk.InvalidArgumentError, "T_max must be >= 1"),
        ("chained", {"_last_lr": [0.1, -1.0]}, gk.InvalidArgumentError, r"_last_lr\[1\]"),
    ],
)
def test_load_state_dict_checks_everything_before_changing_anything(name, bad, error, match):
    opt = _opt()
    sched = _makers()[name](opt)
    sched.step()
    before = repr(sched.state_dict())
    state = bad(_opt()) if callable(bad) else {**sched.state_dict(), **bad}
    with pytest.raises(error, match=match):
        sched.load_state_dict(state)
    assert repr(sched.state_dict()) == before


# ------------------------------------------------------------------ argument checks
class _NoMomentum(optim.Optimizer):
    def __init__(self, params):
        super().__init__(params, {"lr": 0.1})


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda o: ConstantLR(o, factor=0), gk.InvalidArgumentError, "ConstantLR: factor must be > 0"),
        (lambda o: ConstantLR(o, factor=1.5), gk.InvalidArgumentError, "ConstantLR: factor must be <= 1"),
        (lambda o: ConstantLR(o, total_iters=0), gk.InvalidArgumentError, "ConstantLR: total_iters must be >= 1"),
        (lambda o: PolynomialLR(o, total_iters=2.5), gk.ArgumentTypeError, "PolynomialLR: total_iters must be an int"),
        (lambda o: PolynomialLR(o, power=-1), gk.InvalidArgumentError, "PolynomialLR: power must be >= 0"),
        (lambda o: MultiplicativeLR(o, 0.9), gk.ArgumentTypeError, "MultiplicativeLR: lr_lambda must be a function"),
        (lambda o: MultiplicativeLR(o, lambda e: -1).step(), gk.InvalidArgumentError,
         r"MultiplicativeLR: lr_lambda\(1\) for parameter group 0 must be >= 0"),
        (lambda o: CosineAnnealingWarmRestarts(o, 0), gk.InvalidArgumentError, "WarmRestarts: T_0 must be >= 1"),
        (lambda o: CosineAnnealingWarmRestarts(o, 2, T_mult=1.5), gk.ArgumentTypeError, "T_mult must be an int"),
        (lambda o: CosineAnnealingWarmRestarts(o, 2, eta_min=-1), gk.InvalidArgumentError, "eta_min must be >= 0"),
        (lambda o: CosineAnnealingWarmRestarts(o, 2).step(-0.5), gk.InvalidArgumentError,
         "WarmRestarts.step: epoch must be >= 0"),
        (lambda o: CosineAnnealingWarmRestarts(o, 2).step(math.inf), gk.InvalidArgumentError, "epoch must be finite"),
        (lambda o: CyclicLR(o, 0.01, 0.1, step_size_up=0), gk.InvalidArgumentError, "CyclicLR: step_size_up must be >"),
        (lambda o: CyclicLR(o, 0.01, 0.1, mode="sine"), gk.InvalidArgumentError, "CyclicLR: mode must be 'triangular'"),
        (lambda o: CyclicLR(o, 0.01, 0.1, scale_mode="x"), gk.InvalidArgumentError, "CyclicLR: scale_mode must be"),
        (lambda o: CyclicLR(o, 0.01, 0.1, scale_fn=3), gk.ArgumentTypeError, "CyclicLR: scale_fn must be a function"),
        (lambda o: CyclicLR(o, [0.01], 0.1), gk.InvalidArgumentError, r"one base_lr per parameter group \(2\), got 1"),
        (lambda o: CyclicLR(o, 0.01, -0.1), gk.InvalidArgumentError, "CyclicLR: max_lr must be >= 0"),
        (lambda o: CyclicLR(o, 0.01, 0.1, scale_fn=lambda x: -1).step(), gk.InvalidArgumentError,
         r"CyclicLR: scale_fn\(1\) must be >= 0"),
        (lambda o: CyclicLR(_NoMomentum(o.param_groups[0]["params"]), 0.01, 0.1), gk.InvalidArgumentError,
         "CyclicLR: cycle_momentum=True needs an optimiser with 'momentum' or 'betas'.*got _NoMomentum"),
        (lambda o: OneCycleLR(o, 1.0), gk.InvalidArgumentError, "OneCycleLR: pass total_steps, or epochs and"),
        (lambda o: OneCycleLR(o, 1.0, total_steps=0), gk.InvalidArgumentError, "OneCycleLR: total_steps must be >="),
        (lambda o: OneCycleLR(o, 1.0, epochs=2, steps_per_epoch=0), gk.InvalidArgumentError, "steps_per_epoch must"),
        (lambda o: OneCycleLR(o, 0.1, epochs=1e308, steps_per_epoch=3), gk.InvalidArgumentError,
         r"OneCycleLR: epochs \* steps_per_epoch \(epochs=1e\+308, steps_per_epoch=3\) must be at most 1.79769e\+308"),
        (lambda o: OneCycleLR(o, 0.1, total_steps=10**400), gk.InvalidArgumentError,
         "OneCycleLR: total_steps must be at most 1.79769e.308 .a float., got an int of 1329 bits"),
        (lambda o: CosineAnnealingWarmRestarts(o, 2).step(10**400), gk.InvalidArgumentError,
         "WarmRestarts.step: epoch must be at most"),
        (lambda o: LinearLR(o, total_iters=10**400), gk.InvalidArgumentError, "LinearLR: total_iters must be at most"),
        (lambda o: OneCycleLR(o, 1.0, 10, pct_start=1.5), gk.InvalidArgumentError, "OneCycleLR: pct_start must be <="),
        (lambda o: OneCycleLR(o, 1.0, 10, pct_start=0.1), gk.InvalidArgumentError,
         "OneCycleLR: phase 0 of the schedule has no steps"),
        (lambda o: OneCycleLR(o, 1.0, 10, pct_start=1.0), gk.InvalidArgumentError, "phase 1 of the schedule has no"),
        (lambda o: OneCycleLR(o, 1.0, 10, anneal_strategy="exp"), gk.InvalidArgumentError, "anneal_strategy must"),
        (lambda o: OneCycleLR(o, 1.0, 10, div_factor=0), gk.InvalidArgumentError, "div_factor must be > 0"),
        (lambda o: OneCycleLR(o, [1.0, 2.0, 3.0], 10), gk.InvalidArgumentError, r"one max_lr per .*\(2\), got 3"),
        (lambda o: OneCycleLR(_opt(kind=optim.Adam), 1.0, 10, max_momentum=1.0), gk.InvalidArgumentError,
         "OneCycleLR: max_momentum must be < 1.0"),
        (lambda o: OneCycleLR(o, 1.0, 10, three_phase="yes"), gk.ArgumentTypeError, "three_phase must be True or"),
        (lambda o: SequentialLR(o, [], []), gk.InvalidArgumentError, "SequentialLR: expected at least one scheduler"),
        (lambda o: SequentialLR(o, ExponentialLR(o, 0.5), []), gk.ArgumentTypeError, "schedulers must be a list"),
        (lambda o: SequentialLR(o, [ExponentialLR(o, 0.5), 3], [2]), gk.ArgumentTypeError,
         r"SequentialLR: schedulers\[1\] must be a learning-rate scheduler"),
        (lambda o: SequentialLR(o, [ExponentialLR(o, 0.5), StepLR(o, 2)], [2, 4]), gk.InvalidArgumentError,
         r"one milestone fewer than schedulers \(1\), got 2"),
        (lambda o: SequentialLR(o, [ExponentialLR(o, 0.5), StepLR(o, 2), StepLR(o, 3)], [5, 3]),
         gk.InvalidArgumentError, "milestones must be in increasing order"),
        (lambda o: SequentialLR(o, [ExponentialLR(o, 0.5), ReduceLROnPlateau(o)], [2]), gk.InvalidArgumentError,
         r"schedulers\[1\] is a ReduceLROnPlateau"),
        (lambda o: SequentialLR(o, [ExponentialLR(_opt(), 0.5)], []), gk.InvalidArgumentError,
         r"schedulers\[0\] \(ExponentialLR\) drives another optimiser"),
        (lambda o: SequentialLR(o, [StepLR(o, 2), ChainedScheduler([StepLR(o, 3)])], [2]), gk.InvalidArgumentError,
         r"SequentialLR: schedulers\[1\] is a ChainedScheduler, which has no epoch 0"),
        (lambda o: ChainedScheduler([]), gk.InvalidArgumentError, "ChainedScheduler: expected at least one"),
        (lambda o: ChainedScheduler([ExponentialLR(o, 0.5)], optimizer=_opt()), gk.InvalidArgumentError,
         "ChainedScheduler: schedulers.0. .ExponentialLR. drives another optimiser"),
        (lambda o: ChainedScheduler([ExponentialLR(o, 0.5)], optimizer=3), gk.ArgumentTypeError,
         "ChainedScheduler: expected an optimiser, got int"),
    ],
)
def test_invalid_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make(_opt())


@pytest.mark.parametrize("cls", [ConstantLR, PolynomialLR, MultiplicativeLR, CosineAnnealingWarmRestarts, CyclicLR,
                                 OneCycleLR, SequentialLR])  # fmt: skip
def test_an_optimiser_is_required(cls):
    args = {MultiplicativeLR: (_mult_factor,), CosineAnnealingWarmRestarts: (2,), CyclicLR: (0.01, 0.1),
            OneCycleLR: (1.0, 10), SequentialLR: ([], [])}.get(cls, ())  # fmt: skip
    with pytest.raises(gk.ArgumentTypeError, match=f"{cls.__name__}: expected an optimiser, got object"):
        cls(object(), *args)


# ------------------------------------------------------------------ PyTorch, number for number
def _torch_pair(kind="sgd"):
    torch = pytest.importorskip("torch")
    tparams = [torch.nn.Parameter(torch.ones(2, dtype=torch.float64)) for _ in BASES]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(tparams, BASES, strict=True)]
    if kind == "adam":
        return torch, torch.optim.Adam(groups, lr=BASES[0], betas=(0.5, 0.99)), _opt(kind=optim.Adam, betas=(0.5, 0.99))
    return torch, torch.optim.SGD(groups, lr=BASES[0], momentum=0.9), _opt()


_GROUP_KEYS = ("lr", "initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum", "momentum", "betas")


def _copy_groups(src, dst) -> None:
    """What loading the optimiser's state dict would bring: the lrs, momenta and the schedules' group keys."""
    for g, h in zip(dst.param_groups, src.param_groups, strict=True):
        g.update({k: h[k] for k in _GROUP_KEYS if k in h})


TORCH_CASES = [
    ("ConstantLR", {"factor": 0.4, "total_iters": 6}, "sgd", (5, 1, 0, 13, 6)),
    ("PolynomialLR", {"total_iters": 9, "power": 0.7}, "sgd", (5, 1, 0, 13, 9)),
    ("MultiplicativeLR", {"lr_lambda": [_mult_factor, lambda e: 1 - 0.01 * e]}, "sgd", (5, 1)),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.001}, "sgd", (5, 1.5, 0, 13.25, 21, 8)),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": [0.1, 0.2], "step_size_up": 3, "step_size_down": 5,
                  "mode": "triangular2"}, "sgd", (5, 1, 0, 33)),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4, "mode": "exp_range", "gamma": 0.97},
     "adam", (7, 2)),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 40, "three_phase": True}, "sgd", (5, 1, 0, 40)),
    ("OneCycleLR", {"max_lr": [1.0, 0.5], "epochs": 4, "steps_per_epoch": 10, "anneal_strategy": "linear"},
     "adam", (5, 39)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "kwargs", "kind", "epochs"), TORCH_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(TORCH_CASES)])  # fmt: skip
def test_pytorch_gives_the_same_learning_rates(name, kwargs, kind, epochs):
    """Bit for bit: the lrs and momenta of recursive steps, of step(epoch), and of a resume with last_epoch."""
    torch, topt, opt = _torch_pair(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns about the order of steps and step(epoch)
        tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
        sched = getattr(G, name)(opt, **kwargs)
        for step in range(30):
            assert (_lrs(opt), _momenta(opt)) == (_lrs(topt), _momenta(topt)), step
            assert sched.get_last_lr() == tsched.get_last_lr()
            tsched.step()
            sched.step()
        for epoch in epochs:
            tsched.step(epoch)
            sched.step(epoch)
            assert (_lrs(opt), _momenta(opt)) == (_lrs(topt), _momenta(topt)), epoch
            assert sched.last_epoch == tsched.last_epoch
        for last in (0, 4):
            _, topt2, opt2 = _torch_pair(kind)
            _copy_groups(topt, topt2)
            _copy_groups(topt, opt2)
            tsched = getattr(torch.optim.lr_scheduler, name)(topt2, last_epoch=last, **kwargs)
            sched = getattr(G, name)(opt2, last_epoch=last, **kwargs)
            for _ in range(8):
                assert (_lrs(opt2), _momenta(opt2)) == (_lrs(topt2), _momenta(topt2))
                assert sched.last_epoch == tsched.last_epoch
                tsched.step()
                sched.step()


def _torch_composites(M, o):
    return {
        "sequential": M.SequentialLR(o, [M.ConstantLR(o, 0.1, 2), M.ExponentialLR(o, 0.9), M.CosineAnnealingLR(o, 5)],
                                     milestones=[3, 8]),
        "sequential-one-cycle": M.SequentialLR(o, [M.LinearLR(o, 0.1, total_iters=4), M.OneCycleLR(o, 1.0, 12)], [4]),
        "chained": M.ChainedScheduler([M.ConstantLR(o, 0.1, 2), M.ExponentialLR(o, 0.9)], o),
    }  # fmt: skip


@pytest.mark.parametrize("name", ["sequential", "sequential-one-cycle", "chained"])
def test_pytorch_composites_give_the_same_learning_rates(name):
    torch, topt, opt = _torch_pair()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tsched = _torch_composites(torch.optim.lr_scheduler, topt)[name]
        sched = _torch_composites(G, opt)[name]
        for step in range(15):
            assert (_lrs(opt), _momenta(opt)) == (_lrs(topt), _momenta(topt)), step
            assert sched.get_last_lr() == tsched.get_last_lr()
            tsched.step()
            sched.step()


def test_pytorch_state_dicts_load_into_gradkit_schedulers():
    torch, topt, opt = _torch_pair()
    T = torch.optim.lr_scheduler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = [
            (lambda M, o: M.ConstantLR(o, 0.25, 7), lambda o: ConstantLR(o)),
            (lambda M, o: M.PolynomialLR(o, 8, 2.0), lambda o: PolynomialLR(o)),
            (lambda M, o: M.MultiplicativeLR(o, _mult_factor), lambda o: MultiplicativeLR(o, _mult_factor)),
            (lambda M, o: M.CosineAnnealingWarmRestarts(o, 2, 2), lambda o: CosineAnnealingWarmRestarts(o, 5)),
            (lambda M, o: M.CyclicLR(o, 0.01, 0.1, 3, mode="triangular2"), lambda o: CyclicLR(o, 0.02, 0.3)),
            (lambda M, o: M.OneCycleLR(o, 1.0, 20), lambda o: OneCycleLR(o, 2.0, 30)),
            *[(lambda M, o, n=n: _torch_composites(M, o)[n], lambda o, n=n: _torch_composites(G, o)[n])
              for n in ("sequential", "chained")],
        ]  # fmt: skip
        for make_torch, make in pairs:
            _, topt, opt = _torch_pair()
            tsched = make_torch(T, topt)
            for _ in range(4):
                tsched.step()
            sched = make(opt)
            sched.load_state_dict(tsched.state_dict())
            _copy_groups(topt, opt)  # the lrs and group keys come with the optimiser's state dict
            assert "_is_initial" not in sched.state_dict()
            for step in range(6):
                tsched.step()
                sched.step()
                assert (_lrs(opt), _momenta(opt)) == (_lrs(topt), _momenta(topt)), (type(sched).__name__, step)
