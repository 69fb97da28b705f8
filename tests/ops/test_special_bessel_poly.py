"""gk.special's Bessel functions J0, J1, Y0, Y1, K0, K1 (and the scaled K0, K1), spherical j0, the Airy function
Ai, and the orthogonal polynomials (Chebyshev T, U, V, W and their shifted versions, Hermite H and He, Laguerre L,
Legendre P): PyTorch's values at the edges, the NumPy versions (used without SciPy and on CuPy arrays) against
SciPy and mpmath on dense grids, slopes by central differences (float64, two orders) and closed forms."""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import special, special_airy, special_bessel_jy, special_bessel_k

INF, NAN = math.inf, math.nan
S = gk.special

BESSEL = ["bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_k0", "modified_bessel_k1",
          "scaled_modified_bessel_k0", "scaled_modified_bessel_k1"]
UNARY = BESSEL + ["spherical_bessel_j0", "airy_ai"]
SCIPY_NAME = dict(zip(BESSEL, ["j0", "j1", "y0", "y1", "k0", "k1", "k0e", "k1e"], strict=True))
FALLBACK = {
    "bessel_j0": special_bessel_jy._j0_fallback, "bessel_j1": special_bessel_jy._j1_fallback,
    "bessel_y0": special_bessel_jy._y0_fallback, "bessel_y1": special_bessel_jy._y1_fallback,
    "modified_bessel_k0": special_bessel_k._k0_fallback, "modified_bessel_k1": special_bessel_k._k1_fallback,
    "scaled_modified_bessel_k0": special_bessel_k._k0e_fallback,
    "scaled_modified_bessel_k1": special_bessel_k._k1e_fallback,
    "spherical_bessel_j0": special_bessel_jy._spherical_j0_fallback, "airy_ai": special_airy._ai_fallback,
}
POLYNOMIALS = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
               "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
               "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
               "laguerre_polynomial_l", "legendre_polynomial_p"]


def _t(values, device, dtype=np.float64, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


def _slope(f, x):
    with np.errstate(all="ignore"):
        return gk.grad(lambda t: f(t).sum())(x).numpy()


def _no_scipy(monkeypatch):
    monkeypatch.setattr(special, "_library", lambda xp, name: None)


# ------------------------------------------------------------------ the namespace
def test_names_and_aliases():
    assert S.modified_bessel_i0 is S.i0 and S.modified_bessel_i1 is S.i1
    for scipy_name, name in [("j0", "bessel_j0"), ("j1", "bessel_j1"), ("y0", "bessel_y0"), ("y1", "bessel_y1"),
                             ("k0", "modified_bessel_k0"), ("k1", "modified_bessel_k1"),
                             ("k0e", "scaled_modified_bessel_k0"), ("k1e", "scaled_modified_bessel_k1")]:
        assert getattr(S, scipy_name) is getattr(S, name)
    assert set(UNARY + POLYNOMIALS + ["modified_bessel_i0", "modified_bessel_i1"]) <= set(S.__all__)
    assert not hasattr(S, "airy_ai_prime")
    torch = pytest.importorskip("torch")
    assert all(hasattr(torch.special, name) for name in UNARY + POLYNOMIALS)


# ------------------------------------------------------------------ edges (PyTorch's values)
X_EDGES = [-INF, -1.0, -0.0, 0.0, 1e-310, INF, NAN]
EDGES = {
    "bessel_j0": [NAN, 0.7651976865579666, 1.0, 1.0, 1.0, NAN, NAN],
    "bessel_j1": [NAN, -0.4400505857449335, -0.0, 0.0, 5e-311, NAN, NAN],
    "bessel_y0": [NAN, NAN, -INF, -INF, -454.4938756003539, NAN, NAN],
    "bessel_y1": [NAN, NAN, -INF, -INF, -INF, NAN, NAN],
    "modified_bessel_k0": [NAN, NAN, INF, INF, 713.9173103438126, 0.0, NAN],
    "modified_bessel_k1": [NAN, NAN, INF, INF, INF, 0.0, NAN],
    "scaled_modified_bessel_k0": [NAN, NAN, INF, INF, 713.9173103438126, 0.0, NAN],
    "scaled_modified_bessel_k1": [NAN, NAN, INF, INF, INF, 0.0, NAN],
    "spherical_bessel_j0": [0.0, 0.8414709848078965, 1.0, 1.0, 1.0, 0.0, NAN],
    "airy_ai": [NAN, 0.5355608832923521, 0.3550280538878172, 0.3550280538878172, 0.3550280538878172, NAN, NAN],
}


def _check_edges(out, expected):
    expected = np.asarray(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-320)  # (5e-311 is subnormal: one unit apart)
    keep = ~np.isnan(expected)
    assert list(np.signbit(out[keep])) == list(np.signbit(expected[keep]))  # J1(-0) = -0


@pytest.mark.parametrize("name", UNARY)
def test_values_at_the_edges(name, device, monkeypatch):
    x = _t(X_EDGES, device)
    _check_edges(getattr(S, name)(x).numpy(), EDGES[name])
    _no_scipy(monkeypatch)
    _check_edges(getattr(S, name)(x).numpy(), EDGES[name])


@pytest.mark.parametrize("name", UNARY)
def test_the_edge_values_above_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    _check_edges(getattr(torch.special, name)(torch.tensor(X_EDGES, dtype=torch.float64)).numpy(), EDGES[name])


def test_far_out(device, monkeypatch):
    """Underflow, overflow and the phase at 1e300 (true values; SciPy and PyTorch lose the phase there:
    they give -4.59e-151 for J0(1e300), cos(x) where cos(x - pi/4) belongs)."""
    _no_scipy(monkeypatch)
    x = _t([800.0, 1e300], device)
    expected = {
        "bessel_j0": [0.008897445883816135, -7.860673062724093e-151],
        "bessel_j1": [0.026775138722323195, -1.3681360450342481e-151],
        "bessel_y0": [0.026769572592398646, -1.3681360450342481e-151],
        "bessel_y1": [-0.00888071664525955, 7.860673062724093e-151],
        "modified_bessel_k0": [0.0, 0.0],
        "scaled_modified_bessel_k0": [0.044304427486646016, 1.2533141373155002e-150],
        "scaled_modified_bessel_k1": [0.04433210911141211, 1.2533141373155002e-150],
        "spherical_bessel_j0": [0.0011174620602462768, -8.178819121159085e-301],
        "airy_ai": [0.0, 0.0],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(getattr(S, name)(x).numpy(), values, rtol=2e-15, atol=0, err_msg=name)
    ai = S.airy_ai(_t([-1e6, -1e205, -1e206], device)).numpy()  # zeta overflows beyond ~4.6e205: NaN, as PyTorch
    np.testing.assert_allclose(ai[0], -0.0021912611413430574, rtol=1e-14)
    assert abs(ai[1]) < 1e-51 and np.isnan(ai[2])


def test_dtypes(device):
    for name in UNARY:
        f = getattr(S, name)
        for dtype in (np.int64, np.int8, np.bool_, np.float16, np.float32):
            x = _t([1, 2], device, dtype=dtype)
            assert f(x).dtype == gk.erf(x).dtype, (name, dtype)
        with pytest.raises(gk.ArgumentTypeError, match=name):
            f(0.5)


@pytest.mark.parametrize("name", UNARY)
def test_float32_is_the_float64_value_rounded(name, device, monkeypatch):
    x = np.concatenate([np.linspace(-40, 40, 801), np.geomspace(1e-30, 1e4, 200)]).astype(np.float32)
    for library in (True, False):
        if not library:
            _no_scipy(monkeypatch)
        f = getattr(S, name)
        wide = f(_t(x.astype(np.float64), device)).numpy().astype(np.float32)
        np.testing.assert_array_equal(f(_t(x, device, dtype=np.float32)).numpy(), wide)


# ------------------------------------------------------------------ the NumPy versions against SciPy and mpmath
def _amplitude(name, x, value):
    """What the errors are measured against: the envelope sqrt(2 / (pi x)) of J and Y, |x|^(-1/4) / sqrt(pi) of
    Ai on the left (so near the zeros the error is absolute), the value itself elsewhere."""
    m = np.abs(x)
    with np.errstate(all="ignore"):
        if name.startswith("bessel"):
            return np.maximum(np.abs(value), np.sqrt(2 / (np.pi * m)))
        if name == "spherical_bessel_j0":
            return np.maximum(np.abs(value), 1 / np.maximum(m, 1))
        if name == "airy_ai":
            return np.where(x < 0, np.maximum(np.abs(value), m**-0.25 / np.sqrt(np.pi)), np.abs(value))
    return np.abs(value)


def _grid(name):
    rng = np.random.default_rng(7)
    positive = np.concatenate([np.geomspace(1e-300, 1e-2, 60), np.linspace(0.01, 30, 1500),
                               np.geomspace(30, 1e3, 300), rng.uniform(0, 30, 500),
                               [1.0, 2.0, 2.0000001, 1.9999999, 25.0, 24.999999, 25.000001]])
    if name.startswith(("modified", "scaled")):
        return np.concatenate([positive, np.geomspace(1e3, 705, 20)])
    if name == "airy_ai":
        return np.concatenate([-positive, positive[positive < 105], [10.0, -10.0, 10.25, -10.25]])
    return np.concatenate([-positive, positive])


def _scipy(scipy_special, name, x):
    if name == "airy_ai":
        return scipy_special.airy(x)[0]
    if name == "spherical_bessel_j0":
        return scipy_special.spherical_jn(0, x)
    return getattr(scipy_special, SCIPY_NAME[name])(x)


@pytest.mark.parametrize("name", UNARY)
def test_fallbacks_match_scipy(name):
    """Within 2e-14 of the amplitude (SciPy's Ai is off by 1.2e-14 near -10), plus SciPy's own error far out (its
    phase loses eps x, eps zeta for Ai)."""
    scipy_special = pytest.importorskip("scipy.special")
    x = _grid(name)
    with np.errstate(all="ignore"):
        expected = _scipy(scipy_special, name, x)
        ours = FALLBACK[name](np, x)
    far = np.abs(x) ** 1.5 * 2 / 3 if name == "airy_ai" else np.abs(x)
    tolerance = _amplitude(name, x, expected) * (2e-14 + 5e-16 * far)
    if name == "airy_ai":  # SciPy's Ai is 0 beyond 103.892, where the true one is still a subnormal number
        tolerance = np.where(x > 103.892, 1e-307, tolerance)
    bad = ~((np.abs(ours - expected) <= tolerance) | (ours == expected) | (np.isnan(ours) & np.isnan(expected)))
    assert not bad.any(), list(zip(x[bad][:5], ours[bad][:5], expected[bad][:5], strict=True))


MPMATH = {
    "bessel_j0": lambda mp, x: mp.besselj(0, x), "bessel_j1": lambda mp, x: mp.besselj(1, x),
    "bessel_y0": lambda mp, x: mp.bessely(0, x), "bessel_y1": lambda mp, x: mp.bessely(1, x),
    "modified_bessel_k0": lambda mp, x: mp.besselk(0, x), "modified_bessel_k1": lambda mp, x: mp.besselk(1, x),
    "scaled_modified_bessel_k0": lambda mp, x: mp.besselk(0, x) * mp.exp(x),
    "scaled_modified_bessel_k1": lambda mp, x: mp.besselk(1, x) * mp.exp(x),
    "spherical_bessel_j0": lambda mp, x: mp.sin(x) / x, "airy_ai": lambda mp, x: mp.airyai(x),
}


@pytest.mark.parametrize("name", UNARY)
def test_fallbacks_match_mpmath_to_a_few_units(name):
    """Within 1.5e-15 of the amplitude, far out too (Ai to x = -1e9, where SciPy's is NaN)."""
    mp = pytest.importorskip("mpmath")
    rng = np.random.default_rng(11)
    top = 2.8 if "modified" in name else 8  # (mpmath is slow for K far out)
    x = np.concatenate([rng.uniform(0.01, 30, 12), 10 ** rng.uniform(1.5, top, 8)])
    if name == "airy_ai":
        x = np.concatenate([-x, x[x < 100], -(10 ** rng.uniform(3, 9, 5))])
    elif name.startswith("bessel_j") or name == "spherical_bessel_j0":
        x = np.concatenate([x, -x[:5]])
    with mp.workdps(25):
        expected = np.array([float(MPMATH[name](mp, mp.mpf(float(v)))) for v in x])
    ours = FALLBACK[name](np, x)
    np.testing.assert_array_less(np.abs(ours - expected), 1.5e-15 * _amplitude(name, x, expected) + 1e-320)


def test_airy_slope_function_matches_mpmath():
    mp = pytest.importorskip("mpmath")
    x = np.array([-3e4, -500.0, -30.0, -10.2, -9.8, -4.1, -1.0, 0.0, 0.6, 3.3, 9.9, 10.1, 40.0, 90.0])
    with mp.workdps(40):
        expected = np.array([float(mp.airyai(mp.mpf(float(v)), derivative=1)) for v in x])
    amplitude = np.where(x < 0, np.maximum(np.abs(expected), np.abs(x) ** 0.25 / np.sqrt(np.pi)), np.abs(expected))
    ours = special_airy._ai_prime_fallback(np, x)
    np.testing.assert_array_less(np.abs(ours - expected), 1.5e-15 * amplitude)


def test_the_operations_without_scipy_use_the_fallbacks(monkeypatch):
    scipy_special = pytest.importorskip("scipy.special")
    x = _t([0.3, 1.7, 4.5, 13.0, 40.0], "cpu")
    for name in BESSEL:  # (the others are gradkit's own with or without SciPy)
        with_scipy = getattr(S, name)(x).numpy()
        np.testing.assert_array_equal(with_scipy, getattr(scipy_special, SCIPY_NAME[name])(x.numpy()))
    _no_scipy(monkeypatch)
    for name in BESSEL:
        np.testing.assert_allclose(getattr(S, name)(x).numpy(), FALLBACK[name](np, x.numpy()), rtol=0, atol=0)


def test_importing_and_running_without_scipy():
    """With SciPy unimportable: gk.special imports, and every function gives its value."""
    code = ("import sys; sys.modules['scipy'] = None; import numpy as np, gradkit as gk; S = gk.special; "
            "x = gk.tensor(np.array([0.5, 3.0]));"
            "print(repr([float(getattr(S, n)(x)[1]) for n in ('bessel_j0', 'bessel_y1', 'modified_bessel_k0', "
            "'scaled_modified_bessel_k1', 'airy_ai')]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    values = eval(result.stdout)  # noqa: S307 (our own output)
    np.testing.assert_allclose(values, [-0.2600519549019334, 0.3246744247918, 0.03473950438627925,
                                        0.8065634801287870, 0.006591139357460719], rtol=1e-14)


def test_values_match_pytorch_where_its_are_accurate(device):
    """PyTorch's J and Y are off by up to 2e-6 between 2 and 8 and 1e-8 up to 30 (float coefficients), so they
    are compared below 0.5 and beyond 30 only; its K, spherical j0 and Ai(x > 0) everywhere."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for name in UNARY:
        if name.startswith("bessel"):
            x = np.concatenate([rng.uniform(30, 300, 200), rng.uniform(0.01, 0.5, 50)])
        elif name == "airy_ai":
            x = rng.uniform(0, 20, 200)
        else:
            x = rng.uniform(0.01, 300, 200)
        theirs = getattr(torch.special, name)(torch.tensor(x)).numpy()
        ours = getattr(S, name)(_t(x, device)).numpy()
        np.testing.assert_array_less(np.abs(ours - theirs), 1e-13 * _amplitude(name, x, theirs) + 1e-300,
                                     err_msg=name)


# ------------------------------------------------------------------ slopes
SLOPE_POINTS = {  # of like magnitude within each call; across the switches between methods
    "small": [0.05, 0.7, 1.5, 1.99, 2.01],
    "middle": [3.1, 7.7, 15.0, 24.9, 25.1],
    "far": [40.0, 200.0, 1000.0],
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("where", list(SLOPE_POINTS))
def test_slopes_match_central_differences(name, where, device, monkeypatch):
    values = list(SLOPE_POINTS[where])
    if name.startswith("bessel_j") or name in ("spherical_bessel_j0", "airy_ai"):
        values += [-v for v in values[:2]]
    if name == "airy_ai":
        values = {"small": [-1.9, -0.3, 0.0, 0.6, 1.8], "middle": [-9.9, -10.1, -5.0, 9.9, 10.1],
                  "far": [-40.0, -200.0, 12.0]}[where]
    if name.startswith("modified") and where == "far":
        values = [40.0, 45.0]  # (K0(1000) underflows)
    f = getattr(S, name)
    x = _t(values, device, requires_grad=True)
    for library in (True, False):
        if not library:
            _no_scipy(monkeypatch)
        assert gk.gradcheck(f, [x], eps=1e-6, atol=1e-9, rtol=1e-6)


@pytest.mark.parametrize("name", ["bessel_j1", "bessel_y0", "scaled_modified_bessel_k1", "modified_bessel_k0",
                                  "spherical_bessel_j0", "airy_ai"])
def test_second_slopes_match_central_differences(name, device):
    f = getattr(S, name)
    both_sides = name in ("bessel_j1", "spherical_bessel_j0", "airy_ai")
    values = [-3.2, -0.4, 0.7, 5.0, 11.0] if both_sides else [0.4, 3.0, 11.0]
    x = _t(values, device, requires_grad=True)
    assert gk.gradcheck(lambda t: gk.grad(lambda u: f(u).sum())(t), [x], atol=1e-7, rtol=1e-5)


def test_slopes_at_0(device):
    x = _t([0.0, -0.0], device, requires_grad=True)
    for name, expected in [("bessel_j0", 0.0), ("bessel_j1", 0.5), ("spherical_bessel_j0", 0.0),
                           ("airy_ai", -0.2588194037928068), ("bessel_y0", INF), ("bessel_y1", INF),
                           ("modified_bessel_k0", -INF), ("modified_bessel_k1", -INF),
                           ("scaled_modified_bessel_k0", -INF), ("scaled_modified_bessel_k1", -INF)]:
        np.testing.assert_allclose(_slope(getattr(S, name), x), [expected, expected], rtol=1e-15, err_msg=name)


def test_differential_equations_hold_through_two_orders(device):
    """x^2 J'' + x J' + (x^2 - n^2) J = 0 for J0, J1, Y0, Y1; x^2 K'' + x K' - (x^2 + n^2) K = 0; Ai'' = x Ai."""
    x = _t([0.6, 2.3, 7.9, 19.0, 33.0], device, requires_grad=True)
    xv = x.numpy()
    cases = [("bessel_j0", 0, 1), ("bessel_j1", 1, 1), ("bessel_y0", 0, 1), ("bessel_y1", 1, 1),
             ("modified_bessel_k0", 0, -1), ("modified_bessel_k1", 1, -1)]
    for name, order, sign in cases:
        f = getattr(S, name)
        y = f(x).numpy()
        first = _slope(f, x)
        second = gk.grad(lambda t, f=f: gk.grad(lambda u: f(u).sum())(t).sum())(x).numpy()
        residual = xv**2 * second + xv * first + (sign * xv**2 - order**2) * y
        scale = xv**2 * np.abs(second) + xv * np.abs(first) + (xv**2 + order**2) * np.abs(y)
        np.testing.assert_array_less(np.abs(residual), 1e-13 * scale, err_msg=name)
    z = _t([-12.0, -3.0, 0.4, 5.0], device, requires_grad=True)
    second = gk.grad(lambda t: gk.grad(lambda u: S.airy_ai(u).sum())(t).sum())(z).numpy()
    np.testing.assert_allclose(second, z.numpy() * S.airy_ai(z).numpy(), rtol=1e-14)


def test_spherical_j0_closed_forms(device):
    x = np.concatenate([np.linspace(-50, 50, 1000), [1e-8, -3e-5, 1e-200]])
    np.testing.assert_allclose(S.spherical_bessel_j0(_t(x, device)).numpy(), np.sin(x) / x, rtol=1e-15, atol=1e-17)
    slope = _slope(S.spherical_bessel_j0, _t(x, device, requires_grad=True))
    big = np.abs(x) > 0.1  # (x cos x - sin x) / x^2 cancels below; its series there
    xb = x[big]
    np.testing.assert_allclose(slope[big], (xb * np.cos(xb) - np.sin(xb)) / xb**2, rtol=1e-12, atol=1e-15)
    series = -x / 3 + x**3 / 30 - x**5 / 840 + x**7 / 45360
    np.testing.assert_allclose(slope[~big], series[~big], rtol=1e-15, atol=0)


# ------------------------------------------------------------------ the polynomials
X_POLY = [-INF, -2.0, -1.0, -0.5, -0.0, 0.0, 0.3, 0.5, 1.0, 1.7, 2.0, INF, NAN, -0.999, 0.9999]
N_POLY = [-3, -1, 0, 1, 2, 3, 7, 8, 20, 45, 2.5, 2.9, -0.5, -1.5, NAN, INF, -INF, 1e20]


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomials_match_pytorch_with_its_n_rules(name, device):
    """Negative n gives 0, a float n counts as its integer part (toward 0), NaN, inf and 1e20 give 0; edges in x."""
    torch = pytest.importorskip("torch")
    x, n = np.meshgrid(X_POLY, N_POLY)
    ours = getattr(S, name)(_t(x, device), _t(n, device)).numpy()
    theirs = getattr(torch.special, name)(torch.from_numpy(x), torch.from_numpy(n)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)  # (PyTorch's T is cos(n acos x) for n > 6)
    for k in (-2, 0, 1, 5, 30):
        np.testing.assert_allclose(getattr(S, name)(_t(X_POLY, device), k).numpy(),
                                   getattr(torch.special, name)(torch.tensor(np.array(X_POLY)), k).numpy(), rtol=1e-12,
                                   atol=1e-14)


SCIPY_POLY = {"chebyshev_polynomial_t": "eval_chebyt", "chebyshev_polynomial_u": "eval_chebyu",
              "shifted_chebyshev_polynomial_t": "eval_sh_chebyt", "shifted_chebyshev_polynomial_u": "eval_sh_chebyu",
              "hermite_polynomial_h": "eval_hermite", "hermite_polynomial_he": "eval_hermitenorm",
              "laguerre_polynomial_l": "eval_laguerre", "legendre_polynomial_p": "eval_legendre"}


@pytest.mark.parametrize("name", list(SCIPY_POLY))
def test_polynomials_match_scipy_on_a_dense_grid(name):
    scipy_special = pytest.importorskip("scipy.special")
    x = np.linspace(-1.2, 1.2, 481) if "shifted" not in name else np.linspace(-0.1, 1.1, 481)
    if name.startswith(("hermite", "laguerre")):
        x = x * 8
    n = np.arange(0, 41)[:, None]
    ours = getattr(S, name)(_t(x, "cpu"), _t(n, "cpu")).numpy()
    expected = getattr(scipy_special, SCIPY_POLY[name])(n, x)
    scale = np.max(np.abs(expected), axis=1, keepdims=True)  # (cancellation near the zeros: absolute there)
    np.testing.assert_array_less(np.abs(ours - expected), 1e-13 * scale + 1e-12 * np.abs(expected))


def test_polynomial_closed_forms(device):
    t = np.linspace(0.01, np.pi - 0.01, 301)
    c = _t(np.cos(t), device)
    for n in (0, 1, 2, 5, 17, 30):
        atol = 1e-14 * (n + 1) ** 2
        np.testing.assert_allclose(S.chebyshev_polynomial_t(c, n).numpy(), np.cos(n * t), atol=atol)
        np.testing.assert_allclose(S.chebyshev_polynomial_u(c, n).numpy(), np.sin((n + 1) * t) / np.sin(t),
                                   rtol=1e-12, atol=atol)
        np.testing.assert_allclose(S.chebyshev_polynomial_v(c, n).numpy(), np.cos((n + 0.5) * t) / np.cos(t / 2),
                                   rtol=1e-12, atol=atol)
        np.testing.assert_allclose(S.chebyshev_polynomial_w(c, n).numpy(), np.sin((n + 0.5) * t) / np.sin(t / 2),
                                   rtol=1e-12, atol=atol)
        half = _t((np.cos(t) + 1) / 2, device)  # shifted: of 2x - 1
        np.testing.assert_allclose(S.shifted_chebyshev_polynomial_t(half, n).numpy(), np.cos(n * t), atol=atol * 4)
    x = np.linspace(-3, 3, 61)
    xt = _t(x, device)
    np.testing.assert_allclose(S.hermite_polynomial_h(xt, 3).numpy(), 8 * x**3 - 12 * x, rtol=1e-14, atol=1e-13)
    np.testing.assert_allclose(S.hermite_polynomial_h(xt, 5).numpy(), 32 * x**5 - 160 * x**3 + 120 * x,
                               rtol=1e-13, atol=1e-11)
    np.testing.assert_allclose(S.hermite_polynomial_he(xt, 4).numpy(), x**4 - 6 * x**2 + 3, rtol=1e-14, atol=1e-13)
    zero = _t([0.0], device)
    for n in range(0, 21, 2):  # H_n(0) = (-1)^(n/2) n! / (n/2)!, P_n(0) = (-1)^(n/2) C(n, n/2) / 2^n
        assert S.hermite_polynomial_h(zero, n).numpy()[0] == (-1) ** (n // 2) * math.factorial(n) / math.factorial(
            n // 2)
        np.testing.assert_allclose(S.legendre_polynomial_p(zero, n).numpy()[0],
                                   (-1) ** (n // 2) * math.comb(n, n // 2) / 2**n, rtol=1e-15)
    for n in (3, 10, 25):  # L_n(x) = sum_k C(n, k) (-x)^k / k!, exactly in fractions
        values = [float(sum(Fraction(math.comb(n, k)) * Fraction(-v) ** k / math.factorial(k) for k in range(n + 1)))
                  for v in (0.5, 2.0, 7.25)]
        np.testing.assert_allclose(S.laguerre_polynomial_l(_t([0.5, 2.0, 7.25], device), n).numpy(), values,
                                   rtol=1e-12, atol=1e-13)
    ends = _t([1.0, -1.0], device)
    for n in (0, 1, 6, 99, 100):  # exact at +-1
        np.testing.assert_array_equal(S.legendre_polynomial_p(ends, n).numpy(), [1.0, (-1.0) ** n])
        np.testing.assert_array_equal(S.chebyshev_polynomial_u(ends, n).numpy(), [n + 1, (-1.0) ** n * (n + 1)])


def test_polynomial_slopes_by_identities(device):
    x = np.linspace(-0.95, 0.95, 39)
    xt = _t(x, device, requires_grad=True)
    for n in (1, 2, 9, 25):
        np.testing.assert_allclose(_slope(lambda t, n=n: S.chebyshev_polynomial_t(t, n), xt),
                                   n * S.chebyshev_polynomial_u(_t(x, device), n - 1).numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(_slope(lambda t, n=n: S.hermite_polynomial_h(t, n), xt),
                                   2 * n * S.hermite_polynomial_h(_t(x, device), n - 1).numpy(), rtol=1e-13, atol=1e-9)
        np.testing.assert_allclose(_slope(lambda t, n=n: S.hermite_polynomial_he(t, n), xt),
                                   n * S.hermite_polynomial_he(_t(x, device), n - 1).numpy(), rtol=1e-13, atol=1e-12)
        lower = sum(S.laguerre_polynomial_l(_t(x, device), k).numpy() for k in range(n))
        np.testing.assert_allclose(_slope(lambda t, n=n: S.laguerre_polynomial_l(t, n), xt), -lower, rtol=1e-12,
                                   atol=1e-12)
        p = S.legendre_polynomial_p(_t(x, device), n).numpy()
        below = S.legendre_polynomial_p(_t(x, device), n - 1).numpy()
        np.testing.assert_allclose(_slope(lambda t, n=n: S.legendre_polynomial_p(t, n), xt),
                                   n * (x * p - below) / (x * x - 1), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomial_slopes_match_central_differences_two_orders(name, device):
    x = _t([-1.3, -0.6, 0.0, 0.45, 0.8, 1.1], device, requires_grad=True)
    n = _t([[0.0, 1.0, 2.0, 5.0, 7.0, 9.0]], device)
    f = getattr(S, name)
    assert gk.gradcheck(lambda t: f(t, n), [x], atol=1e-7, rtol=1e-6)
    assert gk.gradcheck(lambda t: gk.grad(lambda u: f(u, 6).sum())(t), [x], atol=1e-6, rtol=1e-5)
    third = gk.grad(lambda t: gk.grad(lambda u: gk.grad(lambda v: f(v, 2).sum())(u).sum())(t).sum())(x).numpy()
    np.testing.assert_array_equal(third, np.zeros(6))  # a quadratic's third derivative


def test_polynomial_broadcasting_dtypes_and_n(device):
    x = _t([0.2, 0.7, -0.4], device, dtype=np.float32, requires_grad=True)
    n = _t([[1], [2], [3], [-1]], device, dtype=np.int64)
    y = S.legendre_polynomial_p(x, n)
    assert y.shape == (4, 3) and y.dtype == gk.float32
    y.sum().backward()  # the slopes of P_1, P_2, P_3 and 0, summed over n
    xv = x.numpy().astype(np.float64)
    np.testing.assert_allclose(x.grad.numpy(), 1 + 3 * xv + (15 * xv**2 - 3) / 2, rtol=1e-6)
    assert S.chebyshev_polynomial_t(x, _t([3.0], device)).dtype == gk.float64  # a float64 tensor n widens
    assert S.chebyshev_polynomial_t(x, 3.0).dtype == gk.float32  # a number does not
    assert S.hermite_polynomial_h(_t([1, 2], device, dtype=np.int64), 2).dtype == gk.float64  # ints: erf's float
    assert S.hermite_polynomial_h(0.5, _t([0, 1, 2], device)).numpy().tolist() == [1.0, 1.0, -1.0]  # x a number
    assert S.hermite_polynomial_h(x, np.int8(2)).dtype == gk.float32
    # n gets no gradient
    nf = _t([2.0, 3.0, 4.0], device, requires_grad=True)
    S.laguerre_polynomial_l(x, nf).sum().backward()
    assert nf.grad is None
    # float32 values are the float64 ones rounded
    wide = S.chebyshev_polynomial_u(x.astype(gk.float64), 13).numpy().astype(np.float32)
    np.testing.assert_array_equal(S.chebyshev_polynomial_u(x, 13).numpy(), wide)
    with pytest.raises(gk.InvalidArgumentError, match="int64"):
        S.hermite_polynomial_h(x, 2**70)
