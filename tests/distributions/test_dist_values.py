"""gk.distributions' univariate families against SciPy (log_prob, cdf, icdf, entropy, mean, variance, stddev)
and against closed forms where SciPy is not needed; MultivariateNormal and its low-rank form against SciPy's
multivariate_normal and against each other."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dist_cases import FAMILIES, SHAPE, build, draw_params, scipy_dist, support_values

import gradkit as gk
import gradkit.distributions as D

RTOL = 1e-10


def _t(x, device):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device=device)


@pytest.mark.parametrize("name", FAMILIES)
def test_densities_and_moments_match_scipy(name, device):
    pytest.importorskip("scipy")
    p = draw_params(name)
    d, _ = build(name, p, device)
    ref = scipy_dist(name, p)
    v = support_values(name, p)
    q = np.random.default_rng(3).uniform(0.05, 0.95, (4,) + SHAPE)
    np.testing.assert_allclose(d.log_prob(_t(v, device)).numpy(), ref.logpdf(v), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(d.cdf(_t(v, device)).numpy(), ref.cdf(v), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(d.icdf(_t(q, device)).numpy(), ref.ppf(q), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d.entropy().numpy(), ref.entropy(), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(np.exp(d.entropy().numpy()), d.perplexity().numpy(), rtol=RTOL)
    if name not in ("Cauchy", "HalfCauchy"):  # SciPy: NaN/inf moments that PyTorch reports as NaN and inf
        np.testing.assert_allclose(d.mean.numpy(), ref.mean(), rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(d.variance.numpy(), ref.var(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d.stddev.numpy(), ref.std(), rtol=1e-9, atol=1e-12)
    for out in (d.log_prob(_t(v, device)), d.entropy(), d.mean):
        assert out.dtype == gk.float64


def test_normal_closed_forms(device):
    d = D.Normal(_t([0.0, 1.0], device), _t([1.0, 2.0], device))
    x = _t([0.5, -1.0], device)
    expected = [-0.5 * 0.25 - 0.5 * math.log(2 * math.pi), -0.5 * 1.0 - math.log(2) - 0.5 * math.log(2 * math.pi)]
    np.testing.assert_allclose(d.log_prob(x).numpy(), expected, rtol=1e-14)
    np.testing.assert_allclose(d.entropy().numpy(), 0.5 + 0.5 * math.log(2 * math.pi) + np.log([1.0, 2.0]))
    np.testing.assert_allclose(d.cdf(d.loc).numpy(), [0.5, 0.5])
    np.testing.assert_allclose(d.icdf(_t([0.5, 0.5], device)).numpy(), [0.0, 1.0], atol=1e-15)
    assert d.mode is d.loc and d.mean is d.loc
    np.testing.assert_allclose(d.variance.numpy(), [1.0, 4.0])


def test_mode_values(device):
    loc, scale = _t([0.5, -1.0], device), _t([1.0, 0.5], device)
    np.testing.assert_allclose(D.Laplace(loc, scale).mode.numpy(), [0.5, -1.0])
    np.testing.assert_allclose(D.Gumbel(loc, scale).mode.numpy(), [0.5, -1.0])
    np.testing.assert_allclose(D.Cauchy(loc, scale).mode.numpy(), [0.5, -1.0])
    np.testing.assert_allclose(D.LogNormal(loc, scale).mode.numpy(), np.exp([0.5 - 1.0, -1.0 - 0.25]))
    np.testing.assert_array_equal(D.Exponential(scale).mode.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(D.HalfNormal(scale).mode.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(D.HalfCauchy(scale).mode.numpy(), [0.0, 0.0])
    assert np.isnan(D.Uniform(loc - 1, loc).mode.numpy()).all()
    c = D.Cauchy(loc, scale)
    assert np.isnan(c.mean.numpy()).all() and np.isinf(c.variance.numpy()).all()
    h = D.HalfCauchy(scale)
    assert np.isinf(h.mean.numpy()).all() and np.isinf(h.variance.numpy()).all()


def test_outside_the_support_without_validation(device):
    u = D.Uniform(_t(0.0, device), _t(2.0, device), validate_args=False)
    np.testing.assert_array_equal(u.log_prob(_t([-1.0, 0.0, 1.0, 2.0, 3.0], device)).numpy(),
                                  [-math.inf, -math.log(2), -math.log(2), -math.inf, -math.inf])
    np.testing.assert_array_equal(u.cdf(_t([-1.0, 3.0], device)).numpy(), [0.0, 1.0])
    for d in (D.HalfNormal(_t(1.0, device), validate_args=False), D.HalfCauchy(_t(1.0, device), validate_args=False)):
        assert d.log_prob(_t(-0.5, device)).item() == -math.inf


def test_gumbel_cdf_icdf_round_trip(device):
    d = D.Gumbel(_t([0.3, -1.0], device), _t([2.0, 0.5], device))
    q = _t([0.1, 0.9], device)
    np.testing.assert_allclose(d.cdf(d.icdf(q)).numpy(), q.numpy(), rtol=1e-12)
    x = _t([0.5, -0.2], device)
    z = (x.numpy() - [0.3, -1.0]) / [2.0, 0.5]
    np.testing.assert_allclose(d.cdf(x).numpy(), np.exp(-np.exp(-z)), rtol=1e-12)


def _spd(rng, n, batch=()):
    a = rng.normal(size=batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


@pytest.mark.parametrize("form", ["covariance_matrix", "precision_matrix", "scale_tril"])
def test_multivariate_normal_matches_scipy(form, device):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    loc = rng.normal(size=3)
    cov = _spd(rng, 3)
    arg = {"covariance_matrix": cov, "precision_matrix": np.linalg.inv(cov), "scale_tril": np.linalg.cholesky(cov)}
    d = D.MultivariateNormal(_t(loc, device), **{form: _t(arg[form], device)})
    ref = stats.multivariate_normal(loc, cov)
    x = rng.normal(size=(5, 3))
    np.testing.assert_allclose(d.log_prob(_t(x, device)).numpy(), ref.logpdf(x), rtol=1e-10)
    np.testing.assert_allclose(d.entropy().numpy(), ref.entropy(), rtol=1e-12)
    np.testing.assert_allclose(d.covariance_matrix.numpy(), cov, rtol=1e-10)
    np.testing.assert_allclose(d.precision_matrix.numpy(), np.linalg.inv(cov), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d.scale_tril.numpy(), np.linalg.cholesky(cov), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(d.variance.numpy(), np.diag(cov), rtol=1e-12)
    np.testing.assert_array_equal(d.mean.numpy(), loc)


def test_multivariate_normal_batches_broadcast(device):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    locs = rng.normal(size=(2, 1, 3))
    covs = _spd(rng, 3, (4,))
    d = D.MultivariateNormal(_t(locs, device), covariance_matrix=_t(covs, device))
    assert d.batch_shape == (2, 4) and d.event_shape == (3,)
    x = rng.normal(size=(5, 2, 4, 3))
    lp = d.log_prob(_t(x, device)).numpy()
    assert lp.shape == (5, 2, 4)
    for i in range(2):
        for j in range(4):
            np.testing.assert_allclose(lp[:, i, j], stats.multivariate_normal(locs[i, 0], covs[j]).logpdf(x[:, i, j]),
                                       rtol=1e-10)  # fmt: skip
    x1 = rng.normal(size=(3,))  # one value for every batch member
    expected = d.log_prob(_t(np.broadcast_to(x1, (2, 4, 3)).copy(), device)).numpy()
    np.testing.assert_allclose(d.log_prob(_t(x1, device)).numpy(), expected, rtol=1e-12)
    assert d.entropy().shape == (2, 4)


def test_lowrank_multivariate_normal_equals_the_full_one(device):
    rng = np.random.default_rng(2)
    loc, w, diag = rng.normal(size=(2, 4)), rng.normal(size=(2, 4, 2)), rng.uniform(0.5, 1.5, size=(2, 4))
    low = D.LowRankMultivariateNormal(_t(loc, device), _t(w, device), _t(diag, device))
    cov = w @ np.swapaxes(w, -1, -2) + np.stack([np.diag(v) for v in diag])
    full = D.MultivariateNormal(_t(loc, device), covariance_matrix=_t(cov, device))
    x = _t(rng.normal(size=(3, 2, 4)), device)
    np.testing.assert_allclose(low.log_prob(x).numpy(), full.log_prob(x).numpy(), rtol=1e-10)
    np.testing.assert_allclose(low.entropy().numpy(), full.entropy().numpy(), rtol=1e-12)
    np.testing.assert_allclose(low.covariance_matrix.numpy(), cov, rtol=1e-12)
    np.testing.assert_allclose(low.precision_matrix.numpy(), np.linalg.inv(cov), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(low.scale_tril.numpy(), np.linalg.cholesky(cov), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(low.variance.numpy(), np.diagonal(cov, 0, -2, -1), rtol=1e-12)


def test_logistic_normal_density_by_change_of_variables(device):
    loc, scale = np.array([0.2, -0.5]), np.array([0.7, 1.3])
    d = D.LogisticNormal(_t(loc, device), _t(scale, device))
    assert d.event_shape == (3,) and d.batch_shape == ()
    x = D.StickBreakingTransform()(_t([[0.3, -0.4], [1.0, 2.0]], device))
    y = D.StickBreakingTransform().inv(x).numpy()
    normal = D.Normal(_t(loc, device), _t(scale, device))
    ladj = D.StickBreakingTransform().log_abs_det_jacobian(_t(y, device), x).numpy()
    expected = normal.log_prob(_t(y, device)).numpy().sum(-1) - ladj
    np.testing.assert_allclose(d.log_prob(x).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(d.rsample((4,)).sum(-1).numpy(), np.ones(4), rtol=1e-12)


def test_independent_sums_the_reinterpreted_axes(device):
    p = draw_params("Normal")
    base, _ = build("Normal", p, device)
    ind = D.Independent(base, 1)
    assert ind.batch_shape == (2,) and ind.event_shape == (3,)
    v = _t(support_values("Normal", p), device)
    np.testing.assert_allclose(ind.log_prob(v).numpy(), base.log_prob(v).numpy().sum(-1), rtol=1e-14)
    np.testing.assert_allclose(ind.entropy().numpy(), base.entropy().numpy().sum(-1), rtol=1e-14)
    assert ind.mean is base.mean and ind.variance.shape == (2, 3)
    both = D.Independent(base, 2)
    assert both.batch_shape == () and both.event_shape == (2, 3)
    np.testing.assert_allclose(both.log_prob(v).numpy(), base.log_prob(v).numpy().sum((-2, -1)), rtol=1e-14)
