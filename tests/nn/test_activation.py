"""SELU, CELU, RReLU, Threshold, Tanhshrink, Softshrink, Hardshrink and Softmax2d with their functional forms.

NumPy closed forms (values and slopes, the kinks and NaN included), first- and second-order gradchecks
away from the kinks, module reprs and arguments, RReLU's random slopes, argument errors, and, where torch
is importable, values, gradients and reprs against it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _host_reads import refuse_host_reads

import gradkit as gk
from gradkit.nn import activation as A

ALPHA, SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
# kinks, NaN and ordinary points
POINTS = np.array([np.nan, -2.0, -1.0, -0.5, -0.2, 0.0, 0.2, 0.5, 0.7, 1.0, 3.0])


def _np_elu(x, alpha):
    with np.errstate(invalid="ignore"):
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


# name: (gradkit function, NumPy value, NumPy slope (NaN's slope is checked only where PyTorch gives a number),
#        torch name and arguments)
CASES = {
    "selu": (A.selu, lambda x: SCALE * _np_elu(x, ALPHA),
             lambda x: np.where(x > 0, SCALE, SCALE * ALPHA * np.exp(np.minimum(x, 0))), ("selu", ())),
    "celu": (lambda x: A.celu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(np.minimum(x, 0) / 1.5)),
             lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / 1.5)), ("celu", (1.5,))),
    "celu_negative_alpha": (lambda x: A.celu(x, -2.0),
                            lambda x: np.where(x > 0, x, -2.0 * np.expm1(np.minimum(x, 0) / -2.0)),
                            lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / -2.0)), ("celu", (-2.0,))),
    "threshold": (lambda x: A.threshold(x, 0.5, -3.0), lambda x: np.where(x <= 0.5, -3.0, x),
                  lambda x: (x > 0.5) * 1.0, ("threshold", (0.5, -3.0))),
    "tanhshrink": (A.tanhshrink, lambda x: x - np.tanh(x), lambda x: np.tanh(x) ** 2, ("tanhshrink", ())),
    "softshrink": (lambda x: A.softshrink(x, 0.5), lambda x: x - np.clip(x, -0.5, 0.5),
                   lambda x: (np.abs(x) > 0.5) * 1.0, ("softshrink", (0.5,))),
    "hardshrink": (lambda x: A.hardshrink(x, 0.5), lambda x: np.where(np.abs(x) <= 0.5, 0, x),
                   lambda x: (np.abs(x) > 0.5) * 1.0, ("hardshrink", (0.5,))),
    "rrelu_eval": (A.rrelu, lambda x: np.where(x > 0, x, x * (1 / 8 + 1 / 3) / 2),
                   lambda x: np.where(x > 0, 1.0, (1 / 8 + 1 / 3) / 2), ("rrelu", ())),
}


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_slopes_at_kinks(device, name):
    fn, value, slope, _ = CASES[name]
    x = gk.tensor(POINTS, device=device, requires_grad=True)
    y = fn(x)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(y.numpy(), value(POINTS), rtol=1e-14, atol=1e-15)
        y.sum().backward()
        finite = ~np.isnan(POINTS)
        np.testing.assert_allclose(x.grad.numpy()[finite], slope(POINTS[finite]), rtol=1e-14)
    assert y.dtype == x.dtype
    assert fn(gk.tensor(POINTS, dtype="float32", device=device)).dtype == np.float32


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck_first_and_second_order(device, name):
    fn = CASES[name][0]
    x = gk.tensor([-1.3, -0.8, -0.3, 0.35, 0.9, 2.1], dtype="float64", device=device, requires_grad=True)  # no kinks
    assert gk.gradcheck(fn, (x,))
    assert gk.gradcheck(lambda u: gk.grad(lambda v: (fn(v) * v).sum())(u), (x,))


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    fn, _, _, (tname, targs) = CASES[name]
    x = gk.tensor(POINTS, requires_grad=True)
    tx = torch.tensor(POINTS, requires_grad=True)
    y, ty = fn(x), getattr(torch.nn.functional, tname)(tx, *targs)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    # NaN's slope is left out: PyTorch's differs between its vectorised and scalar loops (softshrink gives 1
    # or 0 by the input's length and dtype)
    keep = ~np.isnan(POINTS)
    np.testing.assert_allclose(x.grad.numpy()[keep], tx.grad.numpy()[keep], rtol=1e-12)


def test_modules_forward_their_functions_and_repr_as_torch(device):
    x = gk.tensor(POINTS[1:], device=device)
    pairs = [
        (A.SELU(), A.selu(x)),
        (A.CELU(0.7), A.celu(x, 0.7)),
        (A.Threshold(0.1, 20.0), A.threshold(x, 0.1, 20.0)),
        (A.Tanhshrink(), A.tanhshrink(x)),
        (A.Softshrink(0.3), A.softshrink(x, 0.3)),
        (A.Hardshrink(0.3), A.hardshrink(x, 0.3)),
        (A.RReLU(0.1, 0.3).eval(), A.rrelu(x, 0.1, 0.3)),
    ]
    for m, expected in pairs:
        np.testing.assert_array_equal(m(x).numpy(), expected.numpy())
        assert m.state_dict() == {}
    reprs = ["SELU()", "CELU(alpha=1.0)", "Threshold(threshold=0.1, value=20.0)", "Tanhshrink()", "Softshrink(0.5)",
             "Hardshrink(0.5)", "RReLU(lower=0.125, upper=0.3333333333333333)", "Softmax2d()"]
    mods = [A.SELU(), A.CELU(), A.Threshold(0.1, 20.0), A.Tanhshrink(), A.Softshrink(), A.Hardshrink(), A.RReLU(),
            A.Softmax2d()]
    assert [repr(m) for m in mods] == reprs
    assert repr(A.SELU(inplace=True)) == "SELU(inplace=True)" and A.CELU(inplace=True).inplace is True


def test_rrelu_training_draws_a_slope_per_element(device):
    gk.manual_seed(0)
    x = gk.tensor(-np.linspace(0.5, 2.0, 4000), device=device, requires_grad=True)
    m = A.RReLU(0.1, 0.3)
    y = m(x)
    slopes = y.numpy() / x.numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and abs(slopes.mean() - 0.2) < 0.01
    assert len(np.unique(slopes.round(12))) > 3000  # each element its own
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slopes, rtol=1e-12)  # the gradient is the slope drawn
    pos = gk.tensor([0.5, 2.0], device=device)
    np.testing.assert_array_equal(m(pos).numpy(), [0.5, 2.0])
    gk.manual_seed(3)
    first = A.rrelu(x, 0.1, 0.3, training=True).numpy()
    gk.manual_seed(3)
    np.testing.assert_array_equal(A.rrelu(x, 0.1, 0.3, training=True).numpy(), first)
    u = gk.tensor([-1.2, -0.4, 0.8], dtype="float64", device=device, requires_grad=True)
    assert gk.gradcheck(lambda v: (gk.manual_seed(1), A.rrelu(v, 0.1, 0.3, True))[1], (u,))


def test_threshold_takes_integers(device):
    x = gk.tensor([1, 5, 3], device=device)
    y = A.threshold(x, 2.5, -1)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), [-1, 5, 3])


def test_softmax2d(device):
    xv = np.random.default_rng(0).standard_normal((2, 3, 2, 2))
    x = gk.tensor(xv, device=device, requires_grad=True)
    e = np.exp(xv - xv.max(1, keepdims=True))
    np.testing.assert_allclose(A.Softmax2d()(x).numpy(), e / e.sum(1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(A.Softmax2d()(x[0]).numpy(), (e / e.sum(1, keepdims=True))[0], rtol=1e-14)
    assert gk.gradcheck(lambda v: A.Softmax2d()(v) * gk.tensor(xv[0], device=device), (x[0].detach(),))
    with pytest.raises(gk.ShapeError, match=r"Softmax2d: expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) input, "
                                            r"got shape \(2, 3\)"):
        A.Softmax2d()(gk.zeros(2, 3, device=device))


def test_errors(device):
    x = gk.zeros(3, device=device)
    with pytest.raises(gk.InvalidArgumentError, match="softshrink: lambd must be >= 0.0, got -1.0"):
        A.softshrink(x, -1.0)
    with pytest.raises(gk.InvalidArgumentError, match="Softshrink: lambd must be >= 0.0"):
        A.Softshrink(-0.5)
    with pytest.raises(gk.InvalidArgumentError, match="celu: alpha cannot be 0"):
        A.celu(x, 0.0)
    with pytest.raises(gk.InvalidArgumentError, match="CELU: alpha cannot be 0"):
        A.CELU(0)
    with pytest.raises(gk.InvalidArgumentError, match=r"RReLU: lower \(0.5\) must be <= upper \(0.1\)"):
        A.RReLU(0.5, 0.1)
    with pytest.raises(gk.InvalidArgumentError, match=r"rrelu: lower \(0.5\) must be <= upper \(0.1\)"):
        A.rrelu(x, 0.5, 0.1, True)
    with pytest.raises(gk.DTypeError, match="selu: input must be a float tensor, got dtype int64"):
        A.selu(gk.tensor([1, 2], device=device))
    with pytest.raises(gk.DTypeError, match="threshold: input must be a float or integer tensor"):
        A.threshold(gk.tensor([True], device=device), 0.5, 0.0)
    with pytest.raises(gk.ArgumentTypeError, match="Threshold: value must be a number, got str"):
        A.Threshold(0.5, "1")
    with pytest.raises(gk.ArgumentTypeError, match="SELU: inplace must be True or False"):
        A.SELU(inplace="yes")
    x = gk.tensor([-1.0, 0.3], dtype="float64", device=device)
    np.testing.assert_array_equal(A.hardshrink(x, -1.0).numpy(), [-1.0, 0.3])  # a negative lambd: the identity


def test_module_reprs_match_torch():
    torch = pytest.importorskip("torch")
    for name, args in [("SELU", ()), ("CELU", (0.5,)), ("Threshold", (0.1, 20.0)), ("Tanhshrink", ()),
                       ("Softshrink", (0.25,)), ("Hardshrink", ()), ("RReLU", (0.1, 0.2)), ("Softmax2d", ())]:
        assert repr(getattr(A, name)(*args)) == repr(getattr(torch.nn, name)(*args))
    x = np.random.default_rng(1).standard_normal((3, 2, 2))
    np.testing.assert_allclose(A.Softmax2d()(gk.tensor(x)).numpy(), torch.nn.Softmax2d()(torch.tensor(x)).numpy(),
                               rtol=1e-14)
    assert math.isclose(ALPHA * SCALE, 1.7580993408473766)


def test_rrelu_signatures_match_torch_with_no_generator():
    # torch.nn.functional.rrelu and nn.RReLU take no generator= (only the aten op torch.rrelu does): neither
    # does gradkit's; the training draws come from gradkit's generator (gk.manual_seed)
    import inspect

    torch = pytest.importorskip("torch")
    for ours, theirs in ((A.rrelu, torch.nn.functional.rrelu), (gk.nn.functional.rrelu, torch.nn.functional.rrelu),
                         (A.RReLU.__init__, torch.nn.RReLU.__init__)):
        mine, pytorch = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
        assert list(mine) == list(pytorch) and "generator" not in mine
        assert [p.default for p in mine.values()] == [p.default for p in pytorch.values()]
    with pytest.raises(TypeError):
        A.rrelu(gk.ones(2), generator=gk.Generator())


def test_forward_and_backward_read_nothing_on_the_host(device, monkeypatch):
    x = gk.tensor(POINTS[1:].reshape(1, 10, 1), device=device, requires_grad=True)
    layers = [A.SELU(), A.CELU(0.5), A.RReLU(), A.RReLU().eval(), A.Threshold(0.1, 2.0), A.Tanhshrink(),
              A.Softshrink(), A.Hardshrink(), A.Softmax2d()]
    refuse_host_reads(device, monkeypatch)
    for m in layers:
        gk.grad(lambda v, m=m: (gk.grad(lambda u: (m(u) * u).sum())(v) * v).sum())(x)  # second order too
