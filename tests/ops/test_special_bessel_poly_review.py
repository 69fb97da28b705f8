"""Review of gk.special's Bessel, Airy and polynomial functions: the arguments at the ends of the float range
(subnormal and near the largest), slopes where their formulas cancel (J1' near 0, the scaled K's slopes far out),
and the polynomials' guard on the degree, shapes that do not broadcast and -0."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import special, special_bessel_k, special_poly

S = gk.special


def _t(values, device, dtype=np.float64, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


def _no_scipy(monkeypatch):
    monkeypatch.setattr(special, "_library", lambda xp, name: None)


def _slopes(f, x, orders):
    """The first ``orders`` derivatives of f at x (float64 tensor with requires_grad)."""
    out, g = [], f
    for _ in range(orders):
        g = (lambda h: lambda t: gk.grad(lambda u: h(u).sum())(t))(g)
        with np.errstate(all="ignore"):
            out.append(g(x).numpy())
    return out


# ------------------------------------------------------------------ the ends of the float range
def test_subnormal_arguments(device, monkeypatch):
    """ln(x/2) rounded x/2 (to 0 at 5e-324: Y0 and K0 were -inf and inf there, 4e-4 off at 1.5e-323)."""
    _no_scipy(monkeypatch)
    x = _t([5e-324, 1.5e-323], device)
    np.testing.assert_allclose(S.bessel_y0(x).numpy(), [-473.9990734230043, -473.2996751178722], rtol=1e-15)
    for name in ("modified_bessel_k0", "scaled_modified_bessel_k0"):
        np.testing.assert_allclose(getattr(S, name)(x).numpy(), [744.5560034370396, 743.4573911483716], rtol=1e-15)


def test_largest_arguments_keep_their_amplitude(device, monkeypatch):
    """sqrt(1 / (pi x)) and sqrt(pi / (2x)) overflowed inside beyond ~6e307 (J, Y) and ~9e307 (k0e, k1e): 0."""
    _no_scipy(monkeypatch)
    x = _t([6e307, 1e308, 1.7976931348623157e308], device)
    j0 = [-1.0092960128586994e-154, -2.4706564120790077e-155, -4.186986849585373e-155]
    j1 = [2.0580211945823373e-155, 7.586687955241802e-155, 4.228745848829995e-155]
    k = [1.618021593796416e-154, 1.2533141373155003e-154, 9.347643879329245e-155]
    for name, expected in [("bessel_j0", j0), ("bessel_j1", j1), ("bessel_y0", j1), ("bessel_y1", [-v for v in j0]),
                           ("scaled_modified_bessel_k0", k), ("scaled_modified_bessel_k1", k)]:
        np.testing.assert_allclose(getattr(S, name)(x).numpy(), expected, rtol=1e-14, err_msg=name)


def test_airy_is_finite_until_zeta_overflows(device):
    ai = S.airy_ai(_t([-4e205, -4.3e205], device)).numpy()  # (m^(3/2) alone overflowed from 3.2e205)
    assert 0 < abs(ai[0]) < 3e-52 and np.isnan(ai[1])


# ------------------------------------------------------------------ slopes that cancelled
def test_j1_slopes_near_zero(device):
    """J0 - J1/x loses eps / x^j in its j-th slope near 0 (and J1 = x/2 rounds at subnormal x): the series."""
    x = np.array([0.0, -0.0, 5e-324, 1e-320, 1e-10, 1e-4, 1e-3, 0.2, -0.45, 0.4999, 0.5, 0.7, 3.0])
    first, second, third = _slopes(S.bessel_j1, _t(x, device, requires_grad=True), 3)
    mp = pytest.importorskip("mpmath")
    with mp.workdps(30):
        for k, got in enumerate([first, second, third], 1):
            expected = np.array([float(mp.besselj(1, mp.mpf(float(v)), derivative=k)) for v in x])
            rtol = 1e-14 if k == 3 else 3e-15  # (just beyond the series: its third slope loses eps / x^2 there)
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-320, err_msg=f"order {k}")


# the first three slopes of exp(x) K0 and exp(x) K1 at SCALED_K_X (mpmath, 50 digits: sums of its K_n below 25,
# the asymptotic series differentiated term by term and cut at its smallest term beyond)
SCALED_K_X = [1e-20, 0.3, 1.5, 7.0, 24.0, 26.0, 49.0, 1e4, 1e8, 1e16]
SCALED_K_SLOPES = {
    (0, 1): [-1e+20, -2.2725304614724555, -0.2849558202576565, -0.03222647900246065, -0.005249618186677724,
             -0.004660983811996334, -0.0018132663399604114, -6.266335712204455e-07, -6.266570663077861e-13,
             -6.266570686577501e-25],
    (0, 2): [1.0000000000000002e+40, 9.205464951203322, 0.25886560851972235, 0.006700124151575344,
             0.0003248799764653767, 0.0002664554049899388, 5.523326125467351e-05, 9.399268615958125e-11,
             9.399855971117152e-21, 9.399856029866252e-41],
    (0, 3): [-2.0000000000000003e+60, -65.6841410536734, -0.39733456816883145, -0.002325421026925404,
             -3.3515651776076795e-05, -2.5391584095848668e-05, -2.8042028455628066e-06, -2.3497584203066473e-14,
             -2.349963986904378e-28, -2.3499640074665627e-56],
    (1, 1): [-1.0000000000000002e+40, -11.477995412675778, -0.5438214287773788, -0.038926603154035996,
             -0.0055744981631431, -0.004927439216986273, -0.001868499601215085, -6.267275639066051e-07,
             -6.266570757076421e-13, -6.266570686577502e-25],
    (1, 2): [2.0000000000000003e+60, 74.88960600487671, 0.6562001766885538, 0.009025545178500748,
             0.0003583956282414535, 0.00029184698908578746, 5.8037464100236316e-05, 9.401618374378432e-11,
             9.39985620611355e-21, 9.399856029866254e-41],
    (1, 3): [-6.000000000000001e+80, -744.5816853364493, -1.2602199299012393, -0.003456990950025015,
             -3.8357133126219614e-05, -2.8779638105583635e-05, -3.003530109744458e-06, -2.3505808151985072e-14,
             -2.3499640691531175e-28, -2.3499640074665636e-56],
}


@pytest.mark.parametrize("order", [0, 1])
def test_scaled_k_slopes_far_out(order, device):
    """k0e' = k0e - k1e and k1e' = k1e (1 - 1/x) - k0e cancel to 1/(2x) of their terms: the slopes were 1e-7 off
    at x = 1e10 and all wrong at 1e16, the second slopes all wrong from 1e8. Now a few units everywhere."""
    name = f"scaled_modified_bessel_k{order}"
    got = _slopes(getattr(S, name), _t(SCALED_K_X, device, requires_grad=True), 3)
    for m, values in enumerate(got, 1):
        np.testing.assert_allclose(values, SCALED_K_SLOPES[order, m], rtol=2e-15, err_msg=f"{name} order {m}")


@pytest.mark.parametrize("order", [0, 1])
def test_scaled_k_slopes_at_the_edges_and_switches(order, device):
    f = getattr(S, f"scaled_modified_bessel_k{order}")
    x = _t([0.0, -0.0, -2.0, math.inf, math.nan], device, requires_grad=True)
    first, second = _slopes(f, x, 2)
    np.testing.assert_array_equal(first, [-math.inf, -math.inf, math.nan, 0.0, math.nan])
    np.testing.assert_array_equal(second, [math.inf, math.inf, math.nan, 0.0, math.nan])
    # across the switches at 1 and 50 by central differences, first and second slopes
    y = _t([0.999, 1.001, 49.99, 50.01], device, requires_grad=True)
    assert gk.gradcheck(f, [y], eps=1e-6, atol=1e-10, rtol=1e-7)
    assert gk.gradcheck(lambda t: gk.grad(lambda u: f(u).sum())(t), [y], eps=1e-6, atol=1e-10, rtol=1e-7)
    # below 1e-30 the leading terms: -1/x, 1/x^2 (k0e) and -1/x^2, 2/x^3 (k1e)
    tiny = _t([1e-40, 1e-31], device, requires_grad=True)
    first, second = _slopes(f, tiny, 2)
    v = tiny.numpy()
    expected = (-1 / v, 1 / v**2) if order == 0 else (-1 / v**2, 2 / v**3)
    np.testing.assert_allclose(first, expected[0], rtol=1e-14)
    np.testing.assert_allclose(second, expected[1], rtol=1e-14)


def test_scaled_k_slope_pieces_meet():
    """The four pieces of the derivatives (leading terms, series combination, integral, asymptotic series) agree
    at their switches to a few units."""
    for order in (0, 1):
        for m in (1, 2, 3):
            for switch in (special_bessel_k._SLOPE_LEADING_BELOW, 1.0, special_bessel_k._ASYMPTOTIC_FROM):
                x = switch * np.array([1 - 1e-12, 1.0, 1 + 1e-12])
                v = special_bessel_k._scaled_slope_flat(np, x, order, m)
                np.testing.assert_allclose(v[0], v[1], rtol=2e-11)
                np.testing.assert_allclose(v[2], v[1], rtol=2e-11)


# ------------------------------------------------------------------ the polynomials
@pytest.mark.parametrize("n", [10**9, 2**62, 1e15])
def test_huge_degrees_raise_at_once(n, device):
    """The recurrence takes n steps (hours at 1e9): refused beyond _MAX_DEGREE, an int or a tensor n."""
    x = _t([0.3, 0.5], device)
    start = time.perf_counter()
    for name in ("chebyshev_polynomial_t", "legendre_polynomial_p", "hermite_polynomial_h"):
        f = getattr(S, name)
        if isinstance(n, int):
            with pytest.raises(gk.InvalidArgumentError, match=f"{name}: n = {n} is above"):
                f(x, n)
        with pytest.raises(gk.InvalidArgumentError, match=name):
            f(x, _t([3, n], device, dtype=np.float64 if isinstance(n, float) else np.int64))
    assert time.perf_counter() - start < 2
    top = special_poly._MAX_DEGREE
    with pytest.raises(gk.InvalidArgumentError, match=str(top + 1)):
        S.laguerre_polynomial_l(x, top + 1)


def test_polynomial_shapes_that_do_not_broadcast(device):
    with pytest.raises(gk.ShapeError, match="legendre_polynomial_p"):
        S.legendre_polynomial_p(_t([0.1, 0.2], device), _t([1, 2, 3], device, dtype=np.int64))


def test_sparse_tensor_degrees_match_int_degrees(device):
    """A tensor n with a few scattered degrees (only those steps choose values) gives each row its int-n value,
    and slopes, exactly."""
    x = _t(np.linspace(-1.1, 1.1, 9), device, requires_grad=True)
    degrees = [0, 3, 57, 100, -1, 57]
    n = _t(np.array(degrees)[:, None], device, dtype=np.int64)
    for name in ("chebyshev_polynomial_w", "laguerre_polynomial_l", "shifted_chebyshev_polynomial_u"):
        f = getattr(S, name)
        rows = np.stack([f(x, k).numpy() for k in degrees])
        np.testing.assert_array_equal(f(x, n).numpy(), rows)
        slope = gk.grad(lambda t, f=f: (f(t, n) * _t(np.arange(6.0)[:, None], device)).sum())(x).numpy()
        expected = sum(w * gk.grad(lambda t, f=f, k=k: f(t, k).sum())(x).numpy() for w, k in enumerate(degrees))
        np.testing.assert_allclose(slope, expected, rtol=1e-13, atol=1e-12)


POLYNOMIALS = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
               "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
               "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
               "laguerre_polynomial_l", "legendre_polynomial_p"]


def test_polynomials_keep_minus_zero_as_pytorch(device):
    """p_1(-0) is -0 where p_1 is a multiple of x (T, U, H, He, P), as PyTorch's; the int and tensor n alike."""
    x = _t([-0.0, 0.0], device)
    for name in ("chebyshev_polynomial_t", "chebyshev_polynomial_u", "hermite_polynomial_h", "hermite_polynomial_he",
                 "legendre_polynomial_p"):
        f = getattr(S, name)
        for n in (1, _t([1], device, dtype=np.int64)):
            y = f(x, n).numpy()
            assert y.tolist() == [0.0, 0.0] and list(np.signbit(y)) == [True, False], (name, y)
    torch = pytest.importorskip("torch")
    for name in POLYNOMIALS:
        theirs = getattr(torch.special, name)(torch.tensor([-0.0, 0.0], dtype=torch.float64), 1).numpy()
        np.testing.assert_array_equal(np.signbit(getattr(S, name)(x, 1).numpy()), np.signbit(theirs), err_msg=name)


@pytest.mark.parametrize("name", ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "hermite_polynomial_he",
                                  "laguerre_polynomial_l", "legendre_polynomial_p", "shifted_chebyshev_polynomial_t"])
def test_polynomials_to_degree_100_match_scipy(name):
    scipy_special = pytest.importorskip("scipy.special")
    scipy_name = {"chebyshev_polynomial_t": "eval_chebyt", "chebyshev_polynomial_u": "eval_chebyu",
                  "hermite_polynomial_he": "eval_hermitenorm", "laguerre_polynomial_l": "eval_laguerre",
                  "legendre_polynomial_p": "eval_legendre", "shifted_chebyshev_polynomial_t": "eval_sh_chebyt"}[name]
    x = np.linspace(-1.05, 1.05, 211)
    if name == "shifted_chebyshev_polynomial_t":
        x = (x + 1) / 2
    elif name.startswith(("hermite", "laguerre")):
        x = x * 9
    n = np.arange(50, 101, 10)[:, None]
    ours = getattr(S, name)(_t(x, "cpu"), _t(n, "cpu", dtype=np.int64)).numpy()
    expected = getattr(scipy_special, scipy_name)(n, x)
    scale = np.max(np.abs(expected), axis=1, keepdims=True)
    np.testing.assert_array_less(np.abs(ours - expected), 3e-13 * scale + 1e-12 * np.abs(expected))


def test_float32_polynomials_overflow_only_where_the_value_does(device):
    """float32 results are the float64 ones rounded: inf only where the float64 value is beyond float32's range."""
    x = _t([0.5, 3.0, 9.0], device, dtype=np.float32)
    y = S.hermite_polynomial_h(x, 40).numpy()
    wide = S.hermite_polynomial_h(x.astype(gk.float64), 40).numpy()
    assert y.dtype == np.float32
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(y, wide.astype(np.float32))
    assert np.isfinite(y[:2]).all() and np.isinf(y[2])
