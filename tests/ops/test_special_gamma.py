"""gk.special.zeta, gammainc, gammaincc and multigammaln: PyTorch's values at the edges, slopes by central
differences (float64, two orders) in the arguments that have them, the AutogradError for those that do not,
the NumPy versions used without SciPy (against closed forms, and against SciPy where it is installed) and,
when torch is installed, parity with PyTorch up to second derivatives."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import gradkit as gk
from gradkit.ops import special, special_gamma

INF, NAN = math.inf, math.nan
# The emulated cupyx.scipy.special.zeta (tests/emulated_cupy) takes whole orders given as numbers only.
def _t(values, device, dtype=np.float64, requires_grad=False):
    return gk.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=requires_grad)


# ------------------------------------------------------------------ edges (PyTorch's values)
GRID = [-INF, -1.5, -1.0, -0.0, 0.0, 1e-300, 0.5, 1.0, 2.0, 2.5, 1e300, INF, NAN]
# zeta's first argument x (rows) against q (columns): SciPy's values, and PyTorch's except where q is 1e300 or inf
# with x > 1 (PyTorch gives NaN there, or 0 for zeta(2, 1e300) = 1e-300); NaN for 1 < q <= 1e8 where q^-x
# underflows, as both give
_ZETA_EDGES = """
nan nan nan nan nan nan nan nan nan nan nan nan nan
nan nan nan nan nan nan nan nan nan nan nan nan nan
nan nan nan nan nan nan nan nan nan nan nan nan nan
nan nan nan nan nan nan nan nan nan nan nan nan nan
nan nan nan nan nan nan nan nan nan nan nan nan nan
nan nan nan nan nan nan nan nan nan nan nan nan nan
nan nan nan nan nan nan nan nan nan nan nan nan nan
inf inf inf inf inf inf inf inf inf inf inf inf inf
inf 9.379246644989124 inf inf inf inf 4.93480220054468 1.6449340668482266 0.6449340668482266
    0.490357756100235 1e-300 0 nan
inf nan inf inf inf inf 6.247110634568814 1.3414872572509176 0.34148725725091705
    0.22736901577521973 0 0 nan
inf inf inf inf inf inf inf 1 nan nan 0 0 nan
inf inf inf inf inf inf inf 1 nan nan 0 0 nan
inf nan inf inf inf nan nan nan nan nan nan nan nan
"""
PYTORCH_DIFFERS = {(2.0, 1e300), (2.0, INF), (2.5, INF), (1e300, 1e300), (1e300, INF), (INF, 1e300), (INF, INF)}


def _zeta_edges():
    return np.array([float(v) for v in _ZETA_EDGES.split()]).reshape(len(GRID), len(GRID))  # (long rows wrap)


def test_zeta_edges(device):
    x, q = (np.array(v) for v in zip(*itertools.product(GRID, GRID), strict=True))
    out = gk.special.zeta(_t(x, device), _t(q, device)).numpy().reshape(len(GRID), len(GRID))
    np.testing.assert_allclose(out, _zeta_edges(), rtol=1e-15, atol=0)


def test_zeta_edges_against_pytorch_and_scipy():
    torch = pytest.importorskip("torch")
    x, q = (np.array(v) for v in zip(*itertools.product(GRID, GRID), strict=True))
    theirs = torch.special.zeta(torch.tensor(x), torch.tensor(q)).numpy().reshape(len(GRID), len(GRID))
    expected = _zeta_edges()
    i, j = np.nonzero(~np.isclose(theirs, expected, rtol=1e-15, atol=0, equal_nan=True))
    assert {(GRID[r], GRID[c]) for r, c in zip(i, j, strict=True)} == PYTORCH_DIFFERS
    scipy_special = pytest.importorskip("scipy.special")
    np.testing.assert_allclose(scipy_special.zeta(x, q).reshape(len(GRID), len(GRID)), expected, rtol=1e-15, atol=0)


def _incomplete_edges(upper):
    """gammainc (a rows, x columns) at the edges, by PyTorch's rules."""
    out = np.full((len(GRID), len(GRID)), NAN)
    for (i, a), (j, x) in itertools.product(enumerate(GRID), enumerate(GRID)):
        if x < 0 or a < 0:
            v = NAN
        elif a == 0:
            v = 1.0 if x > 0 else NAN
        elif x == 0:
            v = 0.0
        elif a == INF:
            v = NAN if x == INF else 0.0
        elif x == INF:
            v = 1.0
        else:
            continue
        out[i, j] = 1 - v if upper else v
    return out


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_incomplete_gamma_edges(name, device):
    a, x = (np.array(v) for v in zip(*itertools.product(GRID, GRID), strict=True))
    out = getattr(gk.special, name)(_t(a, device), _t(x, device)).numpy().reshape(len(GRID), len(GRID))
    expected = _incomplete_edges(name == "gammaincc")
    at_edge = ~np.isnan(expected) | np.isnan(a.reshape(out.shape)) | np.isnan(x.reshape(out.shape))
    at_edge &= ~((np.isnan(a) & (x > 0) & (x < INF)) | (np.isnan(x) & (a > 0) & (a < INF))).reshape(out.shape)
    np.testing.assert_array_equal(out[at_edge], expected[at_edge])
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.special, name)(torch.tensor(a), torch.tensor(x)).numpy().reshape(out.shape)
    np.testing.assert_array_equal(theirs[at_edge], expected[at_edge])


def test_closed_forms(device):
    x = _t([1e-8, 0.3, 1.0, 2.5, 9.0, 40.0], device)
    xs = x.numpy()
    np.testing.assert_allclose(gk.special.gammainc(1.0, x).numpy(), -np.expm1(-xs), rtol=1e-14)
    np.testing.assert_allclose(gk.special.gammaincc(1.0, x).numpy(), np.exp(-xs), rtol=1e-14)
    np.testing.assert_allclose(gk.special.gammainc(0.5, x).numpy(), [math.erf(math.sqrt(v)) for v in xs], rtol=1e-14)
    np.testing.assert_allclose(gk.special.gammaincc(0.5, x).numpy(), [math.erfc(math.sqrt(v)) for v in xs],
                               rtol=1e-13)
    np.testing.assert_allclose(gk.special.gammaincc(2.0, x).numpy(), (1 + xs) * np.exp(-xs), rtol=1e-14)
    # tiny a: Q(a, x) = a E1(x), kept (1 - P would be 0); SciPy's (on the CPU when installed) within 1e-13
    np.testing.assert_allclose(gk.special.gammaincc(1e-300, _t([0.5, 1.0], device)).numpy(),
                               [0.5597735947761608e-300, 0.21938393439552029e-300], rtol=1e-13)
    q = gk.special.zeta(2.0, _t([1.0, 0.5, 2.0], device)).numpy()
    np.testing.assert_allclose(q, [math.pi**2 / 6, math.pi**2 / 2, math.pi**2 / 6 - 1], rtol=1e-15)
    np.testing.assert_allclose(gk.special.zeta(4.0, _t([1.0], device)).numpy(), [math.pi**4 / 90], rtol=1e-15)


def test_multigammaln(device):
    x = _t([1.5, 2.0, 7.25], device, requires_grad=True)
    for p in (1, 2, 5):
        expected = [p * (p - 1) / 4 * math.log(math.pi) + sum(math.lgamma(v - j / 2) for j in range(p))
                    for v in x.numpy() if v > (p - 1) / 2]
        if p == 5:
            with pytest.raises(gk.InvalidArgumentError, match=r"multigammaln: every element of x must be > \(p - 1\)"):
                gk.special.multigammaln(x, p)
            x = x[2:]
        np.testing.assert_allclose(gk.special.multigammaln(x, p).numpy(), expected, rtol=1e-14)
    assert gk.gradcheck(lambda t: gk.special.multigammaln(t, 3), [x])
    assert np.isnan(gk.special.multigammaln(_t([NAN, 3.0], device), 2).numpy()[0])  # NaN gives NaN
    assert gk.special.multigammaln(_t([2, 3], device, dtype=np.int64), 2).dtype == gk.float64
    for bad, error in ((0, gk.InvalidArgumentError), (1.5, gk.ArgumentTypeError), (True, gk.ArgumentTypeError)):
        with pytest.raises(error, match="multigammaln: p"):
            gk.special.multigammaln(x, bad)


# ------------------------------------------------------------------ slopes
def test_zeta_slope_in_q_and_none_in_x(device):
    q = _t([0.3, 1.0, 2.5, 40.0], device, requires_grad=True)
    assert gk.gradcheck(lambda t: gk.special.zeta(3.0, t), [q])
    assert gk.gradcheck(lambda t: gk.grad(lambda u: gk.special.zeta(2.0, u).sum())(t), [q], atol=1e-5, rtol=1e-4)
    x = _t([2.5, 3.0, 1.7, 4.0], device, requires_grad=True)
    assert gk.gradcheck(lambda t: gk.special.zeta(x.detach(), t), [q])
    # PyTorch has no derivative in x either: asking for it raises, the one in q alone is fine
    dq = gk.grad(lambda u: gk.special.zeta(x, u).sum())(q)
    np.testing.assert_allclose(dq.numpy(), -x.numpy() * gk.special.zeta(x.detach() + 1, q.detach()).numpy(),
                               rtol=1e-15)
    with pytest.raises(gk.AutogradError, match=r"zeta: the derivative with respect to x \(the first argument"):
        gk.special.zeta(x, q).sum().backward()


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_incomplete_gamma_slope_in_x_and_none_in_a(name, device):
    f = getattr(gk.special, name)
    x = _t([0.05, 0.9, 2.0, 7.5, 30.0], device, requires_grad=True)
    a = _t([0.3, 1.0, 2.5, 6.0, 25.0], device, requires_grad=True)
    assert gk.gradcheck(lambda t: f(a.detach(), t), [x], rtol=1e-5)
    assert gk.gradcheck(lambda t: gk.grad(lambda u: f(a.detach(), u).sum())(t), [x], atol=1e-5, rtol=1e-4)
    assert gk.gradcheck(lambda t: f(3.5, t), [x], rtol=1e-5)
    # the slope's own slope in a (a second derivative across the arguments) is there: density (log x - psi(a))
    assert gk.gradcheck(lambda s: gk.grad(lambda u: f(s, u).sum())(x.detach()), [a], rtol=1e-5)
    with pytest.raises(gk.AutogradError, match=rf"{name}: the derivative with respect to a \(the first argument\)"):
        f(a, x).sum().backward()
    # x^(a-1) exp(-x) / Gamma(a) at x = 0 (1 for a = 1) and, without cancellation, for large a
    x0 = _t([0.0, 0.0, 0.0], device, requires_grad=True)
    slope = gk.grad(lambda u: gk.special.gammainc(_t([0.5, 1.0, 2.0], device), u).sum())(x0).numpy()
    np.testing.assert_array_equal(slope, [INF, 1.0, 0.0])
    big = 1e12
    slope = gk.grad(lambda u: gk.special.gammainc(big, u).sum())(_t([big], device, requires_grad=True)).numpy()
    np.testing.assert_allclose(slope, [math.exp(-1 / (12 * big)) / math.sqrt(2 * math.pi * big)], rtol=1e-14)


# ------------------------------------------------------------------ the NumPy versions (no SciPy needed)
def test_fallbacks_against_identities():
    rng = np.random.default_rng(3)
    s = rng.uniform(1.01, 40.0, 300)
    q = 10.0 ** rng.uniform(-3, 4, 300)
    # zeta(s, q) = q^-s + zeta(s, q + 1), also for q < 0 with whole s
    np.testing.assert_allclose(special_gamma._zeta_fallback(np, s, q),
                               q**-s + special_gamma._zeta_fallback(np, s, q + 1), rtol=1e-14)
    sw = rng.integers(2, 9, 100).astype(float)
    qn = -rng.uniform(0.05, 30.0, 100)
    qn = qn[np.abs(qn - np.round(qn)) > 0.05]
    sw = sw[: len(qn)]
    np.testing.assert_allclose(special_gamma._zeta_fallback(np, sw, qn),
                               qn**-sw + special_gamma._zeta_fallback(np, sw, qn + 1), rtol=1e-12)
    # P + Q = 1, and P(a + 1, x) = P(a, x) - x^a exp(-x) / Gamma(a + 1)
    a = 10.0 ** rng.uniform(-3, 6, 500)
    x = a * 10.0 ** rng.uniform(-0.5, 0.5, 500)
    p = special_gamma._gammainc_fallback(np, a, x)
    q = special_gamma._gammaincc_fallback(np, a, x)
    np.testing.assert_allclose(p + q, 1.0, rtol=1e-14)
    small = a < 200
    a, x = a[small], x[small]
    step = np.exp(a * np.log(x) - x - np.array([math.lgamma(v + 1) for v in a]))
    ratio = (special_gamma._gammainc_fallback(np, a + 1, x) + step) / p[small]
    assert np.all(np.abs(ratio - 1) <= 1e-13 * np.maximum(1, a))  # (step: a ulps of its exponent's rounding)


def test_zeta_fallback_matches_scipy():
    scipy_special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(7)
    s = np.concatenate([rng.uniform(1.001, 60.0, 400), 1 + 10.0 ** rng.uniform(-10, -1, 100)])
    q = 10.0 ** rng.uniform(-4, 8, 500)
    ref = scipy_special.zeta(s, q)
    keep = (ref > 1e-300) & (ref < 1e300)
    np.testing.assert_allclose(special_gamma._zeta_fallback(np, s, q)[keep], ref[keep], rtol=3e-15)
    sw, qn = rng.integers(2, 12, 200).astype(float), -rng.uniform(0, 50, 200)
    np.testing.assert_allclose(special_gamma._zeta_fallback(np, sw, qn), scipy_special.zeta(sw, qn), rtol=3e-13)


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_incomplete_gamma_fallbacks_match_scipy(name):
    scipy_special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(9)
    a = 10.0 ** rng.uniform(-3, 5, 2000)
    x = a * 10.0 ** rng.uniform(-1, 1, 2000)
    x[:300] = 10.0 ** rng.uniform(-6, 0.1, 300)
    ref = getattr(scipy_special, name)(a, x)
    got = getattr(special_gamma, f"_{name}_fallback")(np, a, x)
    keep = ref > 1e-300
    # SciPy's x^a exp(-x) / Gamma(a) away from x = a is exp(a log x - x - lgamma(a)): it loses that sum's size in
    # ulps (5e-12 near a = 3000); gradkit's keeps to 1e-13 there (it is exp(-a D) sqrt(a / 2 pi) / Gamma*(a))
    size = np.abs(a * np.log(x)) + x + np.array([abs(math.lgamma(v)) for v in a])
    np.testing.assert_allclose(got[keep], ref[keep], rtol=2e-13 + 4e-16 * size[keep].max(), atol=0)
    assert np.all(np.abs(got[keep] / ref[keep] - 1) <= 2e-13 + 4e-16 * size[keep])


def test_large_a_uses_the_uniform_expansion():
    """Beyond a = 1e5, Temme's expansion (cheap for any a): at x = a, P = 1/2 + (1/3 + 1/(540 a)) / sqrt(2 pi a)
    to within 25/6048 / a^2 of that last term."""
    a = np.array([1e5, 1e8, 1e12, 1e300])
    p = special_gamma._gammainc_fallback(np, a, a)
    np.testing.assert_allclose(p, 0.5 + (1 / 3 + 1 / (540 * a)) / np.sqrt(2 * np.pi * a), rtol=3e-15)
    np.testing.assert_allclose(special_gamma._gammaincc_fallback(np, a, a), 1 - p, rtol=1e-15)
    # far out, P(a, a + z sqrt(a)) is ndtr(z) up to terms in z^3 / sqrt(a)
    big = 1e30
    x = big + np.array([-8.0, -3.0, 0.5, 4.0]) * 1e15
    z = (x - big) / 1e15  # (x rounds to a multiple of 2^47)
    np.testing.assert_allclose(special_gamma._gammainc_fallback(np, np.full(4, big), x),
                               [0.5 * math.erfc(-v / math.sqrt(2)) for v in z], rtol=1e-11)


def test_the_operations_without_scipy_use_the_fallbacks(monkeypatch):
    x = _t([0.3, 1.5, 4.5, 40.0], "cpu", requires_grad=True)
    a = _t([0.5, 2.0, 3.0, 35.0], "cpu")
    values = {name: getattr(gk.special, name)(a, x).numpy() for name in ("gammainc", "gammaincc")}
    values["zeta"] = gk.special.zeta(2.5, x).numpy()
    monkeypatch.setattr(special, "_library", lambda xp, name: None)
    for name in ("gammainc", "gammaincc"):
        np.testing.assert_allclose(getattr(gk.special, name)(a, x).numpy(), values[name], rtol=1e-14)
    np.testing.assert_allclose(gk.special.zeta(2.5, x).numpy(), values["zeta"], rtol=1e-15)


# ------------------------------------------------------------------ parity with PyTorch
def test_values_and_two_orders_of_slopes_match_pytorch(device):
    torch = pytest.importorskip("torch")
    a_values = [0.3, 1.0, 2.5, 6.0, 18.0]  # (beyond a = 20 PyTorch's igamma keeps only 9 digits)
    x_values = [0.05, 0.9, 2.0, 7.5, 21.0]
    s_values = [1.5, 3.0, 2.2, 4.0, 7.5]
    cases = [("gammainc", a_values), ("gammaincc", a_values), ("zeta", s_values)]
    for name, first_values in cases:
        f = getattr(gk.special, name)
        a = _t(first_values, device)
        x = _t(x_values, device, requires_grad=True)
        first = gk.grad(lambda u: f(a, u).sum())(x)
        second = gk.grad(lambda t: gk.grad(lambda u: f(a, u).sum())(t).sum())(x)
        ta = torch.tensor(first_values, dtype=torch.float64)
        tx = torch.tensor(x_values, dtype=torch.float64, requires_grad=True)
        ty = getattr(torch.special, name)(ta, tx)
        (tfirst,) = torch.autograd.grad(ty.sum(), tx, create_graph=True)
        (tsecond,) = torch.autograd.grad(tfirst.sum(), tx)
        np.testing.assert_allclose(f(a, x).numpy(), ty.detach().numpy(), rtol=1e-13, err_msg=name)
        np.testing.assert_allclose(first.numpy(), tfirst.detach().numpy(), rtol=1e-13, err_msg=name)
        np.testing.assert_allclose(second.numpy(), tsecond.numpy(), rtol=1e-12, err_msg=name)


def test_multigammaln_matches_pytorch(device):
    torch = pytest.importorskip("torch")
    values = [1.6, 2.0, 3.7, 12.0]
    x = _t(values, device, requires_grad=True)
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    ty = torch.special.multigammaln(tx, 3)
    (tfirst,) = torch.autograd.grad(ty.sum(), tx)
    np.testing.assert_allclose(gk.special.multigammaln(x, 3).numpy(), ty.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(gk.grad(lambda u: gk.special.multigammaln(u, 3).sum())(x).numpy(), tfirst.numpy(),
                               rtol=1e-13)
