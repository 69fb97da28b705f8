"""gk.special (torch.special's names) and the elementary or gamma-family functions it adds beside those of
their own test files: polygamma (also gk.polygamma), logit (also gk.logit), expit, entr, xlog1py, psi.

PyTorch's values at the edges and, when torch is installed, parity with PyTorch up to second derivatives;
slopes by central differences (float64, two orders)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import gradkit as gk

INF, NAN = math.inf, math.nan


def _t(values, device, dtype=np.float64, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


def _slope(f, x):
    x.grad = None
    with np.errstate(all="ignore"):
        f(x).sum().backward()
    return x.grad.numpy()


# ------------------------------------------------------------------ the namespace
def test_names_are_torch_specials_and_aliases():
    assert set(gk.special.__all__) <= set(dir(gk.special))
    assert gk.special.expit is gk.sigmoid and gk.special.psi is gk.digamma and gk.special.gammaln is gk.lgamma
    for name in ("erf", "erfc", "erfinv", "exp2", "expm1", "log1p", "round", "sinc", "xlogy", "logsumexp", "softmax",
                 "log_softmax", "digamma"):
        assert getattr(gk.special, name) is getattr(gk, name), name
    assert gk.polygamma is gk.special.polygamma and gk.logit is gk.special.logit and gk.i0 is gk.special.i0
    torch = pytest.importorskip("torch")
    scipy_only = {"betaln", "log_expit"}  # scipy.special's names, for ported NumPy/SciPy code
    missing = [name for name in gk.special.__all__ if not hasattr(torch.special, name) and name not in scipy_only]
    assert not missing, missing


def test_importing_gk_special_imports_neither_scipy_nor_cupy():
    code = ("import sys, gradkit; from gradkit import special; special.ndtr; "
            "print([m for m in ('scipy', 'cupy', 'cupyx') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_softmax_logsumexp_and_round_take_torch_specials_positional_arguments(device):
    x = _t([[1.0, 2.0, 3.5], [0.0, -1.0, 2.25]], device)
    np.testing.assert_allclose(gk.special.softmax(x, 1).numpy().sum(axis=1), [1.0, 1.0], rtol=1e-15)
    lse = np.log(np.exp(x.numpy()).sum(1, keepdims=True))
    np.testing.assert_allclose(gk.special.logsumexp(x, 1, True).numpy(), lse, rtol=1e-15)
    np.testing.assert_array_equal(gk.special.round(x, decimals=0).numpy(), np.round(x.numpy()))


# ------------------------------------------------------------------ polygamma
def test_polygamma_values_and_edges(device):
    x = _t([1.0, 0.5, 3.0], device)
    zeta3 = 1.2020569031595942
    np.testing.assert_allclose(gk.polygamma(1, x).numpy(), [math.pi**2 / 6, math.pi**2 / 2, math.pi**2 / 6 - 1.25],
                               rtol=1e-14)
    np.testing.assert_allclose(gk.polygamma(2, x[:1]).numpy(), [-2 * zeta3], rtol=1e-14)
    np.testing.assert_allclose(gk.polygamma(3, x[:1]).numpy(), [math.pi**4 / 15], rtol=1e-14)
    np.testing.assert_array_equal(gk.polygamma(0, x).numpy(), gk.digamma(x).numpy())
    # poles: (-1)^(n+1) inf (SciPy's and, for n >= 2, PyTorch's); 0 with that sign at inf, NaN at -inf
    edges = _t([-INF, -2.0, -0.0, 0.0, INF, NAN], device)
    np.testing.assert_array_equal(gk.polygamma(1, edges).numpy(), [NAN, INF, INF, INF, 0.0, NAN])
    out = gk.polygamma(2, edges).numpy()
    np.testing.assert_array_equal(out, [NAN, -INF, -INF, -INF, -0.0, NAN])
    assert np.signbit(out[4])
    assert gk.polygamma(1, _t([1, 2], device, dtype=np.int64)).dtype == gk.erf(_t([1, 2], device, dtype=np.int64)).dtype
    for bad, error in ((-1, gk.InvalidArgumentError), (1.5, gk.ArgumentTypeError), (True, gk.ArgumentTypeError)):
        with pytest.raises(error, match="polygamma: n"):
            gk.polygamma(bad, x)
    with pytest.raises(gk.ArgumentTypeError, match="polygamma"):
        gk.polygamma(1, 0.5)


def test_polygamma_slopes(device):
    x = _t([-1.5, 0.3, 1.7, 14.0], device, requires_grad=True)
    for n in (0, 1, 3):
        assert gk.gradcheck(lambda t, n=n: gk.polygamma(n, t), [x], rtol=1e-5)
        assert gk.gradcheck(lambda t, n=n: gk.grad(lambda u: gk.polygamma(n, u).sum())(t), [x], atol=1e-5, rtol=1e-4)


def test_polygamma_at_poles_matches_pytorch_where_it_is_right():
    torch = pytest.importorskip("torch")
    x = [-INF, -2.0, -0.0, 0.0, INF, NAN, -1.5]
    for n in (2, 3):  # (PyTorch's n = 1 is finite at the negative integers, NaN at +inf for n >= 2)
        theirs = torch.polygamma(n, torch.tensor(x, dtype=torch.float64)).numpy()
        ours = gk.polygamma(n, gk.tensor(x, dtype=gk.float64)).numpy()
        np.testing.assert_allclose(ours[1:4], theirs[1:4], rtol=0)
        np.testing.assert_allclose(ours[6:], theirs[6:], rtol=1e-13)


# ------------------------------------------------------------------ logit, expit, entr
def test_logit_values_edges_and_eps(device):
    x = _t([-0.5, -0.0, 0.0, 0.3, 0.5, 0.5 + 2.0**-40, 0.9, 1.0, 1.5, NAN], device)
    out = gk.logit(x).numpy()
    expected = [NAN, -INF, -INF, math.log(0.3 / 0.7), 0.0, 2 * math.atanh(2.0**-39), math.log(9.0), INF, NAN, NAN]
    np.testing.assert_allclose(out, expected, rtol=1e-15)  # exact near 1/2 too (log(x / (1 - x)) is not)
    eps = 0.05
    np.testing.assert_allclose(gk.logit(x, eps).numpy(), [math.log(eps / (1 - eps))] * 3 + expected[3:7] + [
        math.log((1 - eps) / eps)] * 2 + [NAN], rtol=1e-15)
    np.testing.assert_allclose(gk.logit(x, -1.0).numpy(), out, rtol=0)  # a negative eps is None, as PyTorch's
    assert gk.special.logit(_t([0, 1], device, dtype=np.int64)).dtype == gk.float64
    with pytest.raises(gk.ArgumentTypeError, match="logit: eps"):
        gk.logit(x, "0.1")
    with pytest.raises(gk.InvalidArgumentError, match="logit: eps"):
        gk.logit(x, NAN)


def test_logit_slopes(device):
    x = _t([-0.5, 0.0, 0.02, 0.3, 0.97, 1.0, 1.5], device, requires_grad=True)
    with np.errstate(all="ignore"):
        slope = _slope(gk.logit, x)
    np.testing.assert_allclose(slope, [NAN, INF, 1 / (0.02 * 0.98), 1 / 0.21, 1 / (0.97 * 0.03), INF, NAN], rtol=1e-14)
    np.testing.assert_allclose(_slope(lambda t: gk.logit(t, 0.05), x),
                               [0.0, 0.0, 0.0, 1 / 0.21, 0.0, 0.0, 0.0], rtol=1e-14)
    inside = _t([0.02, 0.3, 0.5, 0.97], device, requires_grad=True)
    for eps in (None, 0.01):
        assert gk.gradcheck(lambda t, e=eps: gk.logit(t, e), [inside], rtol=1e-5)
        assert gk.gradcheck(lambda t, e=eps: gk.grad(lambda u: gk.logit(u, e).sum())(t), [inside], atol=1e-4,
                            rtol=1e-4)


def test_logit_nan_eps_raises_a_clear_error(device):
    x = _t([0.2, 0.5], device)
    for eps in (NAN, np.float32(NAN), gk.tensor(NAN)):
        with pytest.raises(gk.InvalidArgumentError, match=r"logit: eps must be a number >= 0 .*None .*got nan"):
            gk.logit(x, eps)


def test_logit_eps_above_one_half_clamps_below_eps_first(device):
    x = _t([-1.0, 0.1, 0.5, 0.69, 0.7, 0.9, 2.0], device, requires_grad=True)
    low, high = math.log(0.7 / 0.3), math.log(0.3 / 0.7)  # logit(eps), logit(1 - eps)
    np.testing.assert_allclose(gk.logit(x, 0.7).numpy(), [low] * 4 + [high] * 3, rtol=1e-15)
    np.testing.assert_array_equal(gk.logit(x, 1.0).numpy(), [INF] * 6 + [-INF])
    np.testing.assert_array_equal(_slope(lambda t: gk.logit(t, 0.7), x), np.zeros(7))
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x.numpy(), requires_grad=True)
    for eps in (0.5, 0.7, 1.0):
        out = torch.logit(tx, eps)
        (slope,) = torch.autograd.grad(out.sum(), tx)
        np.testing.assert_allclose(gk.logit(x, eps).numpy(), out.detach().numpy(), rtol=1e-15)
        np.testing.assert_array_equal(_slope(lambda t, e=eps: gk.logit(t, e), x), slope.numpy())


def test_entr(device):
    x = _t([-INF, -1.0, -0.0, 0.0, 0.5, 1.0, INF, NAN], device, requires_grad=True)
    out = gk.special.entr(x).numpy()
    np.testing.assert_array_equal(out, [-INF, -INF, 0.0, 0.0, 0.5 * math.log(2), -0.0, -INF, NAN])
    assert not np.signbit(out[2]) and np.signbit(out[5])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(_slope(gk.special.entr, x),
                                      [NAN, NAN, INF, INF, math.log(2) - 1, -1.0, -INF, NAN])
    y = _t([0.1, 0.7, 3.0], device, requires_grad=True)
    assert gk.gradcheck(gk.special.entr, [y])
    assert gk.gradcheck(lambda t: gk.grad(lambda u: gk.special.entr(u).sum())(t), [y], atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------ xlog1py
def test_xlog1py_zero_times_anything_is_zero_with_pytorchs_slopes(device):
    x = _t([0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 1.5], device, requires_grad=True)
    y = _t([-1.0, 0.0, 1.0, NAN, -1.0, INF, -2.0], device, requires_grad=True)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(gk.special.xlog1py(x, y).numpy(), [0.0, 0.0, 0.0, NAN, -INF, 0.0, NAN])
        gk.special.xlog1py(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, math.log(2.0), NAN, -INF, INF, NAN])
    np.testing.assert_array_equal(y.grad.numpy(), [NAN, 0.0, 0.0, NAN, INF, 0.0, -1.5])
    a = _t([[0.3, -1.2, 2.0]], device, requires_grad=True)
    b = _t([[0.5], [3.0]], device, requires_grad=True)
    assert gk.gradcheck(gk.special.xlog1py, [a, b])
    assert gk.gradcheck(lambda s, t: gk.grad(lambda u, v: gk.special.xlog1py(u, v).sum(), (0, 1))(s, t), [a, b],
                        atol=1e-5, rtol=1e-4)
    assert gk.special.xlog1py(2.0, b).shape == (2, 1)
    with pytest.raises(gk.ShapeError, match="xlog1py"):
        gk.special.xlog1py(_t([1.0, 2.0], device), _t([1.0, 2.0, 3.0], device))
    assert gk.special.xlog1py(1.0, 2.0).dtype == gk.float64  # two numbers: a 0-d float64 tensor, as SciPy's float


# ------------------------------------------------------------------ parity with PyTorch
PARITY = {
    "logit": ([0.02, 0.3, 0.5, 0.77, 0.999], lambda m: m.logit),
    "expit": ([-30.0, -1.3, 0.0, 0.4, 12.0], lambda m: m.expit),
    "entr": ([0.02, 0.3, 1.0, 2.5, 40.0], lambda m: m.entr),
    "sinc": ([-2.5, -0.3, 0.01, 1.5], lambda m: m.sinc),  # (PyTorch's second slope is NaN at 0, gradkit's -pi^2/3)
    "polygamma1": ([-1.5, 0.3, 1.7, 14.0, 200.0], lambda m: (lambda t: m.polygamma(1, t))),
    "polygamma3": ([-1.5, 0.3, 1.7, 14.0, 200.0], lambda m: (lambda t: m.polygamma(3, t))),
    "logit_eps": ([0.02, 0.3, 0.5, 0.77, 0.999], lambda m: (lambda t: m.logit(t, 0.05))),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_values_and_two_orders_of_slopes_match_pytorch(name, device):
    torch = pytest.importorskip("torch")
    values, pick = PARITY[name]
    f, tf = pick(gk.special), pick(torch.special)
    x = _t(values, device, requires_grad=True)
    first = gk.grad(lambda t: f(t).sum())(x)
    second = gk.grad(lambda t: gk.grad(lambda u: f(u).sum())(t).sum())(x)
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    ty = tf(tx)
    (tfirst,) = torch.autograd.grad(ty.sum(), tx, create_graph=True)
    (tsecond,) = torch.autograd.grad(tfirst.sum(), tx)
    # (PyTorch's trigamma and polygamma are good to about 1e-9, as in test_special_functions.py; its sinc's slope
    # (cos(pi x) - sinc(x)) / x cancels near 0, gradkit's takes a series there: 3e-13 apart at 0.01)
    rtol = {"polygamma1": 1e-8, "polygamma3": 1e-8, "sinc": 1e-12}.get(name, 1e-13)
    np.testing.assert_allclose(f(x).numpy(), ty.detach().numpy(), rtol=rtol)
    np.testing.assert_allclose(first.numpy(), tfirst.detach().numpy(), rtol=rtol)
    np.testing.assert_allclose(second.numpy(), tsecond.numpy(), rtol=rtol * 10)


def test_xlog1py_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    xs, ys = [0.0, 0.0, 2.0, -1.5, 3.0, 0.0], [0.5, -1.0, 0.3, 4.0, -0.999, 0.0]
    x, y = _t(xs, device, requires_grad=True), _t(ys, device, requires_grad=True)
    with np.errstate(all="ignore"):
        dx, dy = gk.grad(lambda u, v: gk.special.xlog1py(u, v).sum(), (0, 1))(x, y)
    tx = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    ty = torch.tensor(ys, dtype=torch.float64, requires_grad=True)
    out = torch.special.xlog1py(tx, ty)
    tdx, tdy = torch.autograd.grad(out.sum(), (tx, ty))
    np.testing.assert_allclose(gk.special.xlog1py(x, y).numpy(), out.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(dx.numpy(), tdx.numpy(), rtol=1e-15)
    np.testing.assert_allclose(dy.numpy(), tdy.numpy(), rtol=1e-15)


def test_tensor_methods_are_the_functions_under_pytorchs_method_names(device):
    x = _t([0.3, 0.7, 1.5], device)
    p = _t([0.2, 0.5, 0.9], device)
    pairs = [
        (x.polygamma(2), gk.polygamma(2, x)),
        (p.logit(), gk.logit(p)),
        (p.logit(0.3), gk.logit(p, 0.3)),
        (x.i0(), gk.i0(x)),
        (_t([1.5, 2.0, 3.0], device).mvlgamma(2), gk.special.multigammaln(_t([1.5, 2.0, 3.0], device), 2)),
        (x.igamma(p), gk.special.gammainc(x, p)),
        (x.igammac(p), gk.special.gammaincc(x, p)),
    ]
    for method, function in pairs:
        assert method.dtype == function.dtype
        np.testing.assert_array_equal(method.numpy(), function.numpy())
