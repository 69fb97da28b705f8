"""gk.special.ndtr, log_ndtr, ndtri and erfcx: PyTorch's values at the edges, slopes by central differences
(float64, two orders), the NumPy versions used without SciPy (against closed forms, and against SciPy where it
is installed) and, when torch is installed, parity with PyTorch up to second derivatives."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import special, special_normal

INF, NAN = math.inf, math.nan
SQRT_2PI = math.sqrt(2 * math.pi)


def _t(values, device, dtype=np.float64, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


def _same_signs(out, expected):
    keep = ~np.isnan(np.asarray(expected))
    assert list(np.signbit(out[keep])) == list(np.signbit(np.asarray(expected)[keep]))  # -0.0 too


def _slope(f, x):
    x.grad = None
    with np.errstate(all="ignore"):
        f(x).sum().backward()
    return x.grad.numpy()


# ------------------------------------------------------------------ edges (PyTorch's values)
EDGES = {
    "ndtr": ([-INF, -40.0, -0.0, 0.0, 40.0, INF, NAN], [0.0, 0.0, 0.5, 0.5, 1.0, 1.0, NAN]),
    "log_ndtr": ([-INF, 0.0, 40.0, INF, NAN], [-INF, -math.log(2), -0.0, -0.0, NAN]),
    "ndtri": ([-0.5, -0.0, 0.0, 0.5, 1.0, 1.5, NAN], [NAN, -INF, -INF, 0.0, INF, NAN, NAN]),
    "erfcx": ([-INF, -30.0, -0.0, 0.0, INF, NAN], [INF, INF, 1.0, 1.0, 0.0, NAN]),
}


@pytest.mark.parametrize("name", list(EDGES))
def test_values_at_the_edges_are_pytorchs(name, device):
    x, expected = EDGES[name]
    out = getattr(gk.special, name)(_t(x, device)).numpy()
    np.testing.assert_array_equal(out, expected)
    _same_signs(out, expected)


@pytest.mark.parametrize("name", list(EDGES))
def test_the_edge_values_above_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    x, expected = EDGES[name]
    out = getattr(torch.special, name)(torch.tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_array_equal(out, expected)
    _same_signs(out, expected)


def test_tails_keep_their_digits(device):
    """No underflow or cancellation where the results are tiny: the left tails of ndtr and log_ndtr, ndtri near
    0 and 1, erfcx for large x (references from mpmath)."""
    ndtr = gk.special.ndtr(_t([-37.0, -10.0], device)).numpy()
    # (SciPy's ndtr, used on the CPU when installed, is within 2e-13 there; gradkit's own within 1e-15)
    np.testing.assert_allclose(ndtr, [5.725571222524577e-300, 7.619853024160526e-24], rtol=3e-13)
    log_ndtr = gk.special.log_ndtr(_t([-1e5, -40.0, 10.0], device)).numpy()
    np.testing.assert_allclose(log_ndtr, [-5000000012.431864, -804.6084420137538, -7.619853024160526e-24],
                               rtol=3e-13)
    x = gk.special.ndtri(_t([1e-300, 1e-20, 1 - 2.0**-52], device)).numpy()
    np.testing.assert_allclose(x, [-37.0470962993612, -9.262340089798408, 8.125890664701907], rtol=1e-14)
    v = np.array([1e3, 1e10, 1e200])
    big = gk.special.erfcx(_t(v, device)).numpy()  # 1 / (x sqrt(pi)) (1 - 1 / (2 x^2) + 3 / (4 x^4) - ...)
    w = 1 / v
    np.testing.assert_allclose(big, (1 - 0.5 * w**2 + 0.75 * w**4) * w / math.sqrt(math.pi), rtol=1e-14)


def test_slopes_far_in_the_tails_are_finite(device):
    x = _t([-1e5, -40.0, 0.0, 40.0], device, requires_grad=True)
    slope = _slope(gk.special.log_ndtr, x)  # ndtr' / ndtr: about -x in the left tail, no 0/0
    np.testing.assert_allclose(slope, [100000.00001, 40.024968847207264, math.sqrt(2 / math.pi), 0.0], rtol=1e-13,
                               atol=1e-300)
    p = _t([0.5, 1e-300], device, requires_grad=True)
    np.testing.assert_allclose(_slope(gk.special.ndtri, p), [SQRT_2PI, 2.697304465042612e298], rtol=1e-12)
    x = _t([50.0, 1e4], device, requires_grad=True)  # erfcx' = 2x erfcx(x) - 2/sqrt(pi) ~ -1/(sqrt(pi) x^2)
    np.testing.assert_allclose(_slope(gk.special.erfcx, x), [-0.00022554056313532388, -5.641895750849127e-09],
                               rtol=1e-14)
    x = _t([9.0, 11.0], device, requires_grad=True)  # either side of the switch to the series
    np.testing.assert_allclose(_slope(gk.special.erfcx, x), [-0.006840134415568259, -0.004606082417566812],
                               rtol=2e-14)


@pytest.mark.parametrize("name", list(EDGES))
def test_integer_bool_and_float16_inputs_give_floats(name, device):
    f = getattr(gk.special, name)
    for dtype in (np.int64, np.int8, np.bool_, np.float16, np.float32):
        x = _t([0, 1], device, dtype=dtype)
        assert f(x).dtype == gk.erf(x).dtype, dtype
    with pytest.raises(gk.ArgumentTypeError, match=name):
        f(0.5)


# ------------------------------------------------------------------ slopes by central differences
GRADCHECK = {
    "ndtr": [-6.0, -1.3, 0.0, 0.4, 2.5],
    "log_ndtr": [-30.0, -6.0, -1.3, 0.0, 0.4, 2.5],
    "ndtri": [1e-4, 0.02, 0.3, 0.5, 0.77, 0.999],
    "erfcx": [-3.0, -0.5, 0.0, 0.4, 2.9, 3.1, 9.0, 11.0, 300.0],
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_first_and_second_slopes_match_central_differences(name, device):
    f = getattr(gk.special, name)
    x = _t(GRADCHECK[name], device, requires_grad=True)
    eps = 1e-7 if name == "ndtri" else 1e-6  # (ndtri: steps well inside (0, 1e-4))
    assert gk.gradcheck(f, [x], eps=eps, rtol=1e-5)

    def slope(t):
        return gk.grad(lambda u: f(u).sum())(t)

    assert gk.gradcheck(slope, [x], eps=eps, atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------ the NumPy versions (no SciPy needed)
def test_fallbacks_against_closed_forms():
    x = np.linspace(-8.0, 8.0, 161)
    ndtr = [0.5 * math.erfc(-v / math.sqrt(2)) for v in x]
    np.testing.assert_allclose(special_normal._ndtr_fallback(np, x), ndtr, rtol=1e-13)
    upper = [0.5 * math.erfc(v / math.sqrt(2)) for v in x]
    np.testing.assert_allclose(special_normal._log_ndtr_fallback(np, x), np.where(x < 0, np.log(ndtr), np.log1p(
        np.negative(upper))), rtol=1e-13)
    np.testing.assert_allclose(special_normal._erfcx_fallback(np, x), [math.exp(v * v) * math.erfc(v) for v in x],
                               rtol=1e-13)
    # ndtri inverts ndtr to the last digits, from 1e-300 to 1 - 1e-16
    p = np.concatenate([10.0 ** -np.linspace(300, 1, 120), np.linspace(0.05, 0.95, 37), 1 - 10.0 ** -np.arange(1, 16)])
    q = special_normal._ndtri_fallback(np, p)
    back = special_normal._ndtr_fallback(np, q)
    assert np.all(np.abs(back / p - 1) <= 1e-15 + 3e-16 * q**2)  # (the rounding of q moves ndtr(q) by q^2 ulps)
    assert special_normal._ndtri_fallback(np, np.array(0.3, dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", list(EDGES))
def test_fallbacks_match_scipy(name):
    scipy_special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(11)
    if name == "ndtri":
        x = np.concatenate([10.0 ** rng.uniform(-300, -0.3, 300), rng.uniform(0, 1, 200), 1 - 10.0 ** rng.uniform(
            -15, -0.3, 100)])
    else:
        x = np.concatenate([rng.uniform(-37.0, 25.0, 400), 10.0 ** rng.uniform(-8, 3, 100) * rng.choice([-1, 1], 100)])
        if name in ("log_ndtr", "erfcx"):
            x = np.concatenate([x, 10.0 ** rng.uniform(3, 100, 50)])
        if name == "erfcx":
            x = x[x > -26.5]
    ref = getattr(scipy_special, name)(x)
    got = getattr(special_normal, f"_{name}_fallback")(np, x)
    # SciPy's ndtr (so its log_ndtr for x > 6, -ndtr(-x)), and its erfcx below -10, inherit the rounding of
    # x / sqrt(2) and x^2 (up to 2e-13 near -37); the fallbacks do not (see the closed forms above)
    rtol = {"ndtr": 3e-13, "log_ndtr": 3e-13, "erfcx": 6e-14}.get(name, 1e-14)
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)


def test_the_operations_without_scipy_use_the_fallbacks(monkeypatch):
    x = _t([-20.0, -1.5, 0.3, 4.5], "cpu", requires_grad=True)
    p = _t([1e-30, 0.3, 0.9], "cpu", requires_grad=True)
    args = {"ndtr": x, "log_ndtr": x, "erfcx": x, "ndtri": p}
    expected = {name: getattr(gk.special, name)(a).numpy() for name, a in args.items()}
    slopes = {name: _slope(getattr(gk.special, name), a) for name, a in args.items()}
    monkeypatch.setattr(special, "_library", lambda xp, name: None)
    for name, a in args.items():
        np.testing.assert_allclose(getattr(gk.special, name)(a).numpy(), expected[name], rtol=1e-13)
        np.testing.assert_allclose(_slope(getattr(gk.special, name), a), slopes[name], rtol=1e-13)


# ------------------------------------------------------------------ parity with PyTorch
PARITY = {  # (PyTorch's ndtr loses digits below -4: 4e-11 at -5, 2e-6 at -7)
    "ndtr": [-4.0, -1.3, 0.0, 0.4, 2.5, 6.0],
    "log_ndtr": [-30.0, -7.0, -1.3, 0.0, 0.4, 2.5],
    "ndtri": [1e-10, 0.02, 0.3, 0.5, 0.77, 0.999],
    "erfcx": [-3.0, -0.5, 0.0, 0.4, 2.9, 3.1, 8.0],  # (beyond, PyTorch's slopes lose 2x^2 ulps or more)
}


@pytest.mark.parametrize("name", list(PARITY))
def test_values_and_two_orders_of_slopes_match_pytorch(name, device):
    torch = pytest.importorskip("torch")
    f = getattr(gk.special, name)
    x = _t(PARITY[name], device, requires_grad=True)
    first = gk.grad(lambda t: f(t).sum())(x)
    second = gk.grad(lambda t: gk.grad(lambda u: f(u).sum())(t).sum())(x)
    tx = torch.tensor(PARITY[name], dtype=torch.float64, requires_grad=True)
    ty = getattr(torch.special, name)(tx)
    (tfirst,) = torch.autograd.grad(ty.sum(), tx, create_graph=True)
    (tsecond,) = torch.autograd.grad(tfirst.sum(), tx)
    np.testing.assert_allclose(f(x).numpy(), ty.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(first.numpy(), tfirst.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(second.numpy(), tsecond.numpy(), rtol=1e-10)
