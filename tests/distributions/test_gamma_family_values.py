"""The gamma family and the other continuous families of part two against SciPy (log_prob, cdf, icdf, entropy,
mean, variance, stddev) and against closed forms and quadrature where SciPy has no counterpart (Kumaraswamy,
VonMises's circular moments, LKJCholesky's normalisation); Dirichlet and Wishart against SciPy's
multivariate versions; modes and the moments that are infinite or undefined."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gamma_family_cases import (
    FAMILIES,
    HAS_CDF,
    HAS_ENTROPY,
    HAS_ICDF,
    SHAPE,
    build,
    draw_params,
    scipy_dist,
    support_values,
)

import gradkit as gk
import gradkit.distributions as D

RTOL = 1e-10

_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # NumPy 1.x has only trapz


def _t(x, device):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device=device)


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "Kumaraswamy"])
def test_densities_and_moments_match_scipy(name, device):
    pytest.importorskip("scipy")
    p = draw_params(name)
    d, _ = build(name, p, device)
    ref = scipy_dist(name, p)
    v = support_values(name, p)
    q = np.random.default_rng(3).uniform(0.05, 0.95, (4,) + SHAPE)
    np.testing.assert_allclose(d.log_prob(_t(v, device)).numpy(), ref.logpdf(v), rtol=RTOL, atol=1e-12)
    if name in HAS_CDF:
        np.testing.assert_allclose(d.cdf(_t(v, device)).numpy(), ref.cdf(v), rtol=RTOL, atol=1e-12)
    if name in HAS_ICDF:
        np.testing.assert_allclose(d.icdf(_t(q, device)).numpy(), ref.ppf(q), rtol=1e-9, atol=1e-12)
    if name in HAS_ENTROPY:
        np.testing.assert_allclose(d.entropy().numpy(), ref.entropy(), rtol=1e-9, atol=1e-12)
    if name != "VonMises":  # (its mean and variance are the circular ones)
        np.testing.assert_allclose(d.mean.numpy(), ref.mean(), rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(d.variance.numpy(), ref.var(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d.stddev.numpy(), ref.std(), rtol=1e-9, atol=1e-12)
    for out in (d.log_prob(_t(v, device)), d.mean, d.variance):
        assert out.dtype == gk.float64 and out.shape[-2:] == SHAPE


def test_kumaraswamy_against_closed_forms_and_quadrature(device):
    a, b = np.array([1.5, 2.0, 3.0, 0.7]), np.array([2.0, 5.0, 1.3, 0.6])
    d = D.Kumaraswamy(_t(a, device), _t(b, device))
    x = np.linspace(1e-6, 1 - 1e-6, 200001)[:, None]
    pdf = a * b * x ** (a - 1) * (1 - x**a) ** (b - 1)
    np.testing.assert_allclose(np.exp(d.log_prob(_t(x[::1000], device)).numpy()), pdf[::1000], rtol=1e-12)
    v = _t([[0.2], [0.7]], device)
    np.testing.assert_allclose(d.cdf(v).numpy(), 1 - (1 - v.numpy() ** a) ** b, rtol=1e-12)
    q = _t([[0.1], [0.5], [0.9]], device)
    np.testing.assert_allclose(d.cdf(d.icdf(q)).numpy(), np.broadcast_to(q.numpy(), (3, 4)), rtol=1e-12)
    # the moments and the entropy by the trapezoid rule on the grid (good to ~1e-6 away from the edges)
    first = _trapezoid(x * pdf, x[:, 0], axis=0)
    second = _trapezoid(x * x * pdf, x[:, 0], axis=0)
    entropy = -_trapezoid(pdf * np.log(pdf), x[:, 0], axis=0)
    np.testing.assert_allclose(d.mean.numpy()[:3], first[:3], rtol=1e-5)
    np.testing.assert_allclose(d.variance.numpy()[:3], (second - first**2)[:3], rtol=1e-4)
    np.testing.assert_allclose(d.entropy().numpy()[:3], entropy[:3], rtol=1e-4, atol=1e-5)
    mode = d.mode.numpy()
    np.testing.assert_allclose(mode[:3], x[np.argmax(pdf[:, :3], axis=0), 0], atol=1e-5)
    assert np.isnan(mode[3])  # a, b < 1: the density is unbounded at both ends
    m = D.Kumaraswamy(_t([1.0, 2.0, 1.0], device), _t([2.0, 1.0, 1.0], device)).mode.numpy()
    np.testing.assert_allclose(m[:2], [0.0, 1.0])
    assert np.isnan(m[2])


def test_von_mises_values(device):
    special = pytest.importorskip("scipy.special")
    loc, k = np.array([0.5, -2.0, 3.0, 0.0]), np.array([0.01, 1.0, 30.0, 2000.0])
    d = D.VonMises(_t(loc, device), _t(k, device))
    x = np.linspace(-math.pi, math.pi, 200001)[:, None]
    density = np.exp(d.log_prob(_t(x, device)).numpy())
    np.testing.assert_allclose(_trapezoid(density, x[:, 0], axis=0), 1.0, rtol=1e-9)
    np.testing.assert_allclose(d.variance.numpy(), 1 - special.i1e(k) / special.i0e(k), rtol=1e-12)
    v = _t([0.3, 0.3 + 2 * math.pi, 0.3 - 4 * math.pi], device)  # values are angles: periodic
    lp = D.VonMises(_t(0.5, device), _t(2.0, device)).log_prob(v).numpy()
    np.testing.assert_allclose(lp, lp[0], rtol=1e-12)
    assert d.mean is d.loc and d.mode is d.loc
    assert np.isfinite(d.log_prob(_t(0.0, device)).numpy()).all()  # no overflow of I0 at large concentration


def test_gamma_family_identities(device):
    c, r = _t([0.5, 1.0, 4.0], device), _t([2.0, 0.5, 1.5], device)
    x = _t([0.3, 1.7, 4.0], device)
    g = D.Gamma(c, r)
    e = D.Exponential(r)
    np.testing.assert_allclose(D.Gamma(_t(1.0, device), r).log_prob(x).numpy(), e.log_prob(x).numpy(), rtol=1e-14)
    np.testing.assert_allclose(D.Gamma(_t(1.0, device), r).entropy().numpy(), e.entropy().numpy(), rtol=1e-14)
    chi2 = D.Chi2(2 * c)
    np.testing.assert_allclose(chi2.log_prob(x).numpy(), D.Gamma(c, 0.5).log_prob(x).numpy(), rtol=1e-14)
    np.testing.assert_allclose(chi2.df.numpy(), 2 * c.numpy())
    inv = D.InverseGamma(c, r)
    np.testing.assert_allclose(inv.cdf(x).numpy(), 1 - g.cdf(1 / x).numpy(), rtol=1e-12)
    np.testing.assert_allclose(inv.log_prob(x).numpy(), g.log_prob(1 / x).numpy() - 2 * np.log(x.numpy()),
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(g.mode.numpy(), [0.0, 0.0, 2.0])
    edges = g.cdf(_t([0.0, 0.0, 1e300], device)).numpy()
    np.testing.assert_array_equal(edges, [0.0, 0.0, 1.0])
    np.testing.assert_allclose(D.ExponentialFamily.entropy(g).numpy(), g.entropy().numpy(), rtol=1e-12)
    beta = D.Beta(c, r)
    dirichlet = D.Dirichlet(gk.stack([c, r], -1))
    np.testing.assert_allclose(dirichlet.log_prob(gk.stack([x / 5, 1 - x / 5], -1)).numpy(),
                               beta.log_prob(x / 5).numpy(), rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(dirichlet.entropy().numpy(), beta.entropy().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dirichlet.mean.numpy()[:, 0], beta.mean.numpy(), rtol=1e-14)
    np.testing.assert_allclose(dirichlet.variance.numpy()[:, 0], beta.variance.numpy(), rtol=1e-14)
    # StudentT with df = 1 is Cauchy
    st = D.StudentT(_t(1.0, device), _t(0.3, device), _t(2.0, device))
    np.testing.assert_allclose(st.log_prob(x).numpy(), D.Cauchy(_t(0.3, device), _t(2.0, device)).log_prob(x).numpy(),
                               rtol=1e-12)  # fmt: skip
    # GeneralizedPareto: c = 0 is Exponential(1 / scale) shifted by loc, c = -1 is Uniform(loc, loc + scale)
    gp = D.GeneralizedPareto(_t(0.5, device), _t(2.0, device), _t([0.0, -1.0], device))
    v = _t([1.2, 1.7], device)
    np.testing.assert_allclose(gp.log_prob(v).numpy(), [D.Exponential(_t(0.5, device)).log_prob(_t(0.7, device))
                               .item(), -math.log(2.0)], rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(gp.cdf(v).numpy(), [-math.expm1(-0.35), 0.6], rtol=1e-12)
    np.testing.assert_allclose(gp.log_survival_function(v).numpy(), [-0.35, math.log(0.4)], rtol=1e-12)
    np.testing.assert_allclose(gp.log_cdf(v).numpy(), np.log(gp.cdf(v).numpy()), rtol=1e-12)
    np.testing.assert_allclose(gp.icdf(_t([0.3, 0.3], device)).numpy(), [0.5 - 2 * math.log(0.7), 0.5 + 0.6],
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(gp.entropy().numpy(), [math.log(2) + 1, math.log(2)], rtol=1e-12)
    np.testing.assert_array_equal(gp.support.upper_bound.numpy(), [math.inf, 2.5])


def test_dirichlet_matches_scipy(device):
    stats = pytest.importorskip("scipy.stats")
    c = np.array([[0.7, 1.5, 3.0], [2.0, 2.5, 4.0]])
    d = D.Dirichlet(_t(c, device))
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    x = np.random.default_rng(0).dirichlet([1.0, 1.0, 1.0], size=5)
    lp = d.log_prob(_t(x[:, None, :], device)).numpy()
    for i in range(2):
        ref = stats.dirichlet(c[i])
        np.testing.assert_allclose(lp[:, i], [ref.logpdf(v) for v in x], rtol=1e-12)
        np.testing.assert_allclose(d.entropy().numpy()[i], ref.entropy(), rtol=1e-12)
        np.testing.assert_allclose(d.mean.numpy()[i], ref.mean(), rtol=1e-14)
        np.testing.assert_allclose(d.variance.numpy()[i], ref.var(), rtol=1e-12)
    np.testing.assert_allclose(d.mode.numpy()[1], (c[1] - 1) / (c[1] - 1).sum(), rtol=1e-14)
    m = D.Dirichlet(_t([[0.5, 0.3, 0.9], [1.0, 0.5, 0.5], [2.0, 3.0, 0.5]], device)).mode.numpy()
    np.testing.assert_array_equal(m[0], [1.0, 0.0, 0.0])  # every c < 1: a vertex (PyTorch's: the first)
    assert np.isnan(m[1]).all()  # (c - 1)+ all 0 without every c < 1: 0 / 0, as PyTorch
    np.testing.assert_allclose(m[2], [1 / 3, 2 / 3, 0.0])


def test_wishart_matches_scipy(device):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 3, 3))
    cov = a @ np.swapaxes(a, -1, -2) + np.eye(3)
    df = np.array([3.5, 7.0])
    for form, mat in (("covariance_matrix", cov), ("precision_matrix", np.linalg.inv(cov)),
                      ("scale_tril", np.linalg.cholesky(cov))):  # fmt: skip
        d = D.Wishart(_t(df, device), **{form: _t(mat, device)})
        assert d.batch_shape == (2,) and d.event_shape == (3, 3)
        x = np.stack([stats.wishart(df[i], cov[i]).rvs(4, random_state=i) for i in range(2)], 1)  # (4, 2, 3, 3)
        lp = d.log_prob(_t(x, device)).numpy()
        for i in range(2):
            ref = stats.wishart(df[i], cov[i])
            np.testing.assert_allclose(lp[:, i], ref.logpdf(np.moveaxis(x[:, i], 0, -1)), rtol=1e-10)
            np.testing.assert_allclose(d.entropy().numpy()[i], ref.entropy(), rtol=1e-10)
            np.testing.assert_allclose(d.mean.numpy()[i], ref.mean(), rtol=1e-10)
            np.testing.assert_allclose(d.variance.numpy()[i], ref.var(), rtol=1e-10)
        np.testing.assert_allclose(d.covariance_matrix.numpy(), cov, rtol=1e-10)
        np.testing.assert_allclose(d.precision_matrix.numpy(), np.linalg.inv(cov), rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(d.scale_tril.numpy(), np.linalg.cholesky(cov), rtol=1e-10, atol=1e-14)
    mode = d.mode.numpy()
    assert np.isnan(mode[0]).all()  # df <= p + 1
    np.testing.assert_allclose(mode[1], (7.0 - 4) * cov[1], rtol=1e-10)
    w = D.Wishart(_t(5.0, device), _t(np.eye(2), device))
    assert w.batch_shape == () and w.df.shape == ()


def test_lkj_cholesky_density_is_normalised(device):
    # dim = 2: L = [[1, 0], [r, sqrt(1 - r^2)]], and log_prob is a density in r (on (-1, 1))
    r = np.linspace(-1 + 1e-9, 1 - 1e-9, 400001)
    mats = np.zeros((r.size, 2, 2))
    mats[:, 0, 0] = 1
    mats[:, 1, 0] = r
    mats[:, 1, 1] = np.sqrt(1 - r**2)
    for eta in (1.0, 2.5, 7.0):
        d = D.LKJCholesky(2, _t(eta, device), validate_args=False)
        density = np.exp(d.log_prob(_t(mats, device)).numpy())
        assert _trapezoid(density, r) == pytest.approx(1.0, rel=1e-6)
    d = D.LKJCholesky(3, _t([0.5, 1.0, 3.0], device))
    assert d.batch_shape == (3,) and d.event_shape == (3, 3)
    eye = _t(np.eye(3), device)
    lp = d.log_prob(eye).numpy()  # the identity is the mode for eta > 1 and the least likely for eta < 1
    gk.manual_seed(0)
    x = d.sample((200,))
    others = d.log_prob(x).numpy()
    assert (others[:, 2] <= lp[2] + 1e-12).all() and (others[:, 0] >= lp[0] - 1e-12).all()


def test_undefined_and_infinite_moments(device):
    df = _t([0.5, 1.5, 3.0], device)
    st = D.StudentT(df, _t(0.3, device), _t(2.0, device))
    mean, var = st.mean.numpy(), st.variance.numpy()
    assert np.isnan(mean[0]) and mean[1] == mean[2] == pytest.approx(0.3)
    assert np.isnan(var[0]) and var[1] == math.inf and var[2] == pytest.approx(4.0 * 3.0)
    inv = D.InverseGamma(_t([0.5, 1.5, 3.0], device), _t(2.0, device))
    assert inv.mean.numpy()[0] == math.inf and inv.mean.numpy()[1] == pytest.approx(4.0)
    assert inv.variance.numpy()[1] == math.inf and inv.variance.numpy()[2] == pytest.approx(4.0 / 4.0)
    f = D.FisherSnedecor(_t([1.0, 4.0, 6.0], device), _t([2.0, 3.0, 5.0], device))
    assert np.isnan(f.mean.numpy()[0]) and f.mean.numpy()[1] == pytest.approx(3.0)
    assert np.isnan(f.variance.numpy()[:2]).all() and np.isfinite(f.variance.numpy()[2])
    assert np.isnan(f.mode.numpy()[0]) and f.mode.numpy()[2] == pytest.approx(4 / 6 * 5 / 7)
    pareto = D.Pareto(_t(2.0, device), _t([0.5, 1.5, 3.0], device))
    np.testing.assert_array_equal(pareto.mean.numpy()[:1], [math.inf])
    np.testing.assert_array_equal(pareto.variance.numpy()[:2], [math.inf, math.inf])
    assert pareto.mean.numpy()[2] == pytest.approx(3.0) and pareto.variance.numpy()[2] == pytest.approx(3.0)
    gp = D.GeneralizedPareto(_t(0.0, device), _t(1.0, device), _t([0.2, 0.7, 1.5], device))
    assert np.isnan(gp.mean.numpy()[2]) and np.isnan(gp.variance.numpy()[1:]).all()
    w = D.Weibull(_t(2.0, device), _t([1.0, 2.0], device))
    np.testing.assert_allclose(w.mode.numpy(), [0.0, 2 * math.sqrt(0.5)], rtol=1e-14)
    np.testing.assert_allclose(w.mean.numpy(), [2.0, 2 * math.gamma(1.5)], rtol=1e-14)
