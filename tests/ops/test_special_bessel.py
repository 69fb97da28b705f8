"""gk.special.i0, i0e, i1, i1e (and gk.i0): PyTorch's values at the edges, slopes by central differences
(float64, two orders), the NumPy versions used without SciPy (against NumPy's i0 and the series, and against
SciPy where it is installed) and, when torch is installed, parity with PyTorch up to second derivatives."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import special, special_bessel

INF, NAN = math.inf, math.nan
NAMES = ["i0", "i0e", "i1", "i1e"]
X_EDGES = [-INF, -800.0, -0.0, 0.0, 710.0, INF, NAN]
EDGES = {  # I0, I1 overflow with exp(|x|) beyond 709.78 and are NaN at +-inf, as SciPy's and PyTorch's
    "i0": [NAN, INF, 1.0, 1.0, INF, NAN, NAN],
    "i0e": [0.0, 0.014106945005869183, 1.0, 1.0, 0.014974675005024156, 0.0, NAN],
    "i1": [NAN, -INF, 0.0, 0.0, INF, NAN, NAN],
    "i1e": [-0.0, -0.014098125406526996, 0.0, 0.0, 0.014964125740784194, 0.0, NAN],
}


def _slope(name, x):
    f = getattr(gk.special, name)
    return gk.grad(lambda t: f(t).sum())(x).numpy()


def _t(values, device, dtype=np.float64, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


def _check_edges(out, expected):
    expected = np.asarray(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=0)
    keep = ~np.isnan(expected)
    assert list(np.signbit(out[keep])) == list(np.signbit(expected[keep]))  # +0 at -0 for i1, i1e; -0 at -inf


@pytest.mark.parametrize("name", NAMES)
def test_values_at_the_edges_are_pytorchs(name, device):
    _check_edges(getattr(gk.special, name)(_t(X_EDGES, device)).numpy(), EDGES[name])


@pytest.mark.parametrize("name", NAMES)
def test_the_edge_values_above_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    _check_edges(getattr(torch.special, name)(torch.tensor(X_EDGES, dtype=torch.float64)).numpy(), EDGES[name])


def test_slopes_at_0_and_by_symmetry(device):
    x = _t([0.0, -0.0, 1.5, -1.5], device, requires_grad=True)
    slopes = {name: _slope(name, x) for name in NAMES}
    np.testing.assert_array_equal(slopes["i0"][:2], [0.0, 0.0])
    np.testing.assert_array_equal(slopes["i1"][:2], [0.5, 0.5])
    np.testing.assert_array_equal(slopes["i1e"][:2], [0.5, 0.5])
    np.testing.assert_array_equal(slopes["i0e"][:2], [0.0, 0.0])  # PyTorch's: sign(0) = 0 at the kink
    np.testing.assert_allclose(slopes["i0"][2:], [0.9816664285779079, -0.9816664285779079], rtol=1e-15)  # i1(1.5)
    np.testing.assert_allclose(slopes["i1"][2], slopes["i1"][3], rtol=1e-15)  # even


def test_gk_i0_is_the_special_one_and_dtypes(device):
    assert gk.i0 is gk.special.i0
    for name in NAMES:
        f = getattr(gk.special, name)
        for dtype in (np.int64, np.int8, np.bool_, np.float16, np.float32):
            x = _t([0, 1], device, dtype=dtype)
            assert f(x).dtype == gk.erf(x).dtype, (name, dtype)
        half = _t([0.25, 3.5], device, dtype=np.float16)
        np.testing.assert_allclose(f(half).numpy().astype(np.float64), f(half.astype(gk.float32)).numpy(), rtol=1e-3)
        with pytest.raises(gk.ArgumentTypeError, match=name):
            f(0.5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("where", ["small", "switch", "large"])
def test_first_and_second_slopes_match_central_differences(name, where, device):
    """Inputs of like magnitude in each call (central differences of a sum with I0(60) ~ 1e25 in it see nothing
    of I0(1)); "switch" straddles 20, where the series gives way to the asymptotic one."""
    f = getattr(gk.special, name)
    values = {"small": [-3.2, -0.4, 0.0, 0.7, 5.0], "switch": [-20.1, 19.9, 20.1], "large": [-60.0, 45.0]}[where]
    if name == "i0e":
        values = [v for v in values if v != 0]  # (a kink at 0)
    if where == "large" and name in ("i0", "i1"):
        values = [60.0]
    x = _t(values, device, requires_grad=True)
    assert gk.gradcheck(f, [x], rtol=1e-5)
    assert gk.gradcheck(lambda t: gk.grad(lambda u: f(u).sum())(t), [x], atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------ the NumPy versions (no SciPy needed)
def test_fallbacks_against_numpy_and_the_series():
    x = np.concatenate([np.linspace(-40.0, 40.0, 161), [0.0, 1e-300, 700.0]])
    np.testing.assert_allclose(special_bessel._i0_fallback(np, x), np.i0(x), rtol=3e-15)
    scale = np.exp(-np.abs(x))
    np.testing.assert_allclose(special_bessel._i0e_fallback(np, x), np.i0(x) * scale, rtol=3e-15)
    # I1 from its series, sum over k of (x/2)^(2k+1) / (k! (k+1)!), in Python floats for |x| <= 10
    small = np.linspace(-10.0, 10.0, 41)
    series = [sum((v / 2) ** (2 * k + 1) / (math.factorial(k) * math.factorial(k + 1)) for k in range(60))
              for v in small]
    np.testing.assert_allclose(special_bessel._i1_fallback(np, small), series, rtol=3e-15, atol=1e-300)
    # the Wronskian-like identity I0'(x) = I1(x): central differences of I0 (and of I0e: I1e - sign(x) I0e)
    h = 1e-5
    v = np.array([-30.0, -2.0, 0.5, 3.0, 19.0, 21.0, 80.0])
    i0 = special_bessel._i0_fallback
    np.testing.assert_allclose((i0(np, v + h) - i0(np, v - h)) / (2 * h), special_bessel._i1_fallback(np, v), rtol=1e-9)
    i0e, i1e = special_bessel._i0e_fallback(np, v), special_bessel._i1e_fallback(np, v)
    np.testing.assert_allclose((special_bessel._i0e_fallback(np, v + h) - special_bessel._i0e_fallback(np, v - h))
                               / (2 * h), i1e - np.sign(v) * i0e, rtol=1e-8)
    assert special_bessel._i1_fallback(np, np.array(0.5, dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_fallbacks_match_scipy(name):
    scipy_special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-40.0, 40.0, 300), 10.0 ** rng.uniform(-10, 2.85, 200) * rng.choice([-1, 1], 200),
                        [19.999999, 20.0, 20.000001]])
    np.testing.assert_allclose(getattr(special_bessel, f"_{name}_fallback")(np, x), getattr(scipy_special, name)(x),
                               rtol=3e-15, atol=0)


def test_the_operations_without_scipy_use_the_fallbacks(monkeypatch):
    x = _t([-21.0, -1.5, 0.3, 4.5, 30.0], "cpu", requires_grad=True)
    values = {name: getattr(gk.special, name)(x).numpy() for name in NAMES}
    slopes = {name: _slope(name, x) for name in NAMES}
    monkeypatch.setattr(special, "_library", lambda xp, name: None)
    for name in NAMES:
        f = getattr(gk.special, name)
        np.testing.assert_allclose(f(x).numpy(), values[name], rtol=3e-15)
        # (i0e' = i1e - sign(x) i0e cancels for large |x|: 2e-14 at 21)
        np.testing.assert_allclose(gk.grad(lambda t, f=f: f(t).sum())(x).numpy(), slopes[name], rtol=1e-13)


# ------------------------------------------------------------------ parity with PyTorch
@pytest.mark.parametrize("name", NAMES)
def test_values_and_two_orders_of_slopes_match_pytorch(name, device):
    torch = pytest.importorskip("torch")
    values = [-25.0, -3.2, -0.4, 0.0, 0.7, 5.0, 19.9, 20.1, 60.0]
    f = getattr(gk.special, name)
    x = _t(values, device, requires_grad=True)
    first = gk.grad(lambda t: f(t).sum())(x)
    second = gk.grad(lambda t: gk.grad(lambda u: f(u).sum())(t).sum())(x)
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    ty = getattr(torch.special, name)(tx)
    (tfirst,) = torch.autograd.grad(ty.sum(), tx, create_graph=True)
    (tsecond,) = torch.autograd.grad(tfirst.sum(), tx)
    np.testing.assert_allclose(f(x).numpy(), ty.detach().numpy(), rtol=3e-15)
    np.testing.assert_allclose(first.numpy(), tfirst.detach().numpy(), rtol=1e-13, atol=1e-300)
    # (both lose digits in i1''s i0 - i1/x near 0: the second slopes agree to 1e-12 there)
    np.testing.assert_allclose(second.numpy(), tsecond.numpy(), rtol=1e-12, atol=1e-14)
