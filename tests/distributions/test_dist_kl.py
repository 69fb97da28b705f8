"""gk.distributions.kl_divergence: the closed forms against Monte Carlo estimates (fixed seed, loose) and
against formulas written out here; infinite divergences; the registry's dispatch (the most specific pair, the
ambiguity warning, register_kl's checks) and the error where no pair is registered."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from dist_cases import build, draw_params

import gradkit as gk
import gradkit.distributions as D


def _t(x, device):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device=device)


def _mc_kl(p, q, n=40000):
    gk.manual_seed(0)
    x = p.expand(np.broadcast_shapes(p.batch_shape, q.batch_shape)).sample((n,))
    return (p.log_prob(x) - q.log_prob(x)).mean(axis=0).numpy()


MC_PAIRS = [
    ("Normal", "Normal"), ("Laplace", "Laplace"), ("Exponential", "Exponential"), ("Gumbel", "Gumbel"),
    ("Cauchy", "Cauchy"), ("HalfNormal", "HalfNormal"), ("LogNormal", "LogNormal"), ("Normal", "Laplace"),
    ("Laplace", "Normal"), ("Normal", "Gumbel"), ("Gumbel", "Normal"), ("Exponential", "Normal"),
    ("Exponential", "Gumbel"), ("Uniform", "Normal"), ("Uniform", "Gumbel"),
]


@pytest.mark.parametrize(("pname", "qname"), MC_PAIRS)
def test_kl_matches_monte_carlo(pname, qname, device):
    p, _ = build(pname, draw_params(pname, 1), device)
    q, _ = build(qname, draw_params(qname, 2), device)
    kl = D.kl_divergence(p, q).numpy()
    assert kl.shape == (2, 3) and (kl >= -1e-12).all()
    np.testing.assert_allclose(kl, _mc_kl(p, q), rtol=0.1, atol=0.05)


def test_uniform_kls_by_monte_carlo(device):
    p = D.Uniform(_t([0.2, 1.0], device), _t([0.9, 2.0], device))
    q = D.Uniform(_t([0.0, 0.5], device), _t([1.5, 3.0], device))
    np.testing.assert_allclose(D.kl_divergence(p, q).numpy(), np.log([1.5 / 0.7, 2.5 / 1.0]), rtol=1e-12)
    np.testing.assert_allclose(D.kl_divergence(p, q).numpy(), _mc_kl(p, q), rtol=1e-6)
    e = D.Exponential(_t([0.7, 1.3], device))
    np.testing.assert_allclose(D.kl_divergence(p, e).numpy(), _mc_kl(p, e), rtol=0.02)


def test_kl_closed_forms(device):
    m1, s1, m2, s2 = 0.3, 0.7, -0.4, 1.6
    n1, n2 = D.Normal(_t(m1, device), _t(s1, device)), D.Normal(_t(m2, device), _t(s2, device))
    expected = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    assert D.kl_divergence(n1, n2).item() == pytest.approx(expected, rel=1e-12)
    assert D.kl_divergence(n1, n1).item() == pytest.approx(0.0, abs=1e-15)
    r1, r2 = 0.5, 2.0
    e1, e2 = D.Exponential(_t(r1, device)), D.Exponential(_t(r2, device))
    assert D.kl_divergence(e1, e2).item() == pytest.approx(math.log(r1 / r2) + r2 / r1 - 1, rel=1e-12)
    b1, b2 = 0.5, 1.5
    l1, l2 = D.Laplace(_t(m1, device), _t(b1, device)), D.Laplace(_t(m2, device), _t(b2, device))
    d = abs(m1 - m2)
    expected = math.log(b2 / b1) + d / b2 + b1 / b2 * math.exp(-d / b1) - 1
    assert D.kl_divergence(l1, l2).item() == pytest.approx(expected, rel=1e-12)
    u1, u2 = D.Uniform(_t(0.0, device), _t(1.0, device)), D.Uniform(_t(-1.0, device), _t(3.0, device))
    assert D.kl_divergence(u1, u2).item() == pytest.approx(math.log(4.0), rel=1e-12)


def test_mvn_kl_closed_form(device):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(2, 3, 3))
    c1, c2 = a @ a.T + np.eye(3), b @ np.swapaxes(b, -1, -2) + np.eye(3)
    m1, m2 = rng.normal(size=3), rng.normal(size=(2, 3))
    p = D.MultivariateNormal(_t(m1, device), covariance_matrix=_t(c1, device))
    q = D.MultivariateNormal(_t(m2, device), precision_matrix=_t(np.linalg.inv(c2), device))
    kl = D.kl_divergence(p, q).numpy()
    assert kl.shape == (2,)
    for i in range(2):
        inv2 = np.linalg.inv(c2[i])
        d = m2[i] - m1
        expected = 0.5 * (np.trace(inv2 @ c1) + d @ inv2 @ d - 3 + np.log(np.linalg.det(c2[i]) / np.linalg.det(c1)))
        assert kl[i] == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(kl, _mc_kl(p, q, 20000), rtol=0.05)
    # the low-rank forms give the same numbers as their full covariances
    w, dg = rng.normal(size=(3, 2)), rng.uniform(0.5, 1.5, 3)
    low = D.LowRankMultivariateNormal(_t(m1, device), _t(w, device), _t(dg, device))
    full = D.MultivariateNormal(_t(m1, device), covariance_matrix=low.covariance_matrix)
    np.testing.assert_allclose(D.kl_divergence(low, q).numpy(), D.kl_divergence(full, q).numpy(), rtol=1e-10)
    np.testing.assert_allclose(D.kl_divergence(p, low).numpy(), D.kl_divergence(p, full).numpy(), rtol=1e-10)
    low2 = D.LowRankMultivariateNormal(_t(m2, device), _t(w * 0.3, device), _t(dg + 0.5, device))
    full2 = D.MultivariateNormal(_t(m2, device), covariance_matrix=low2.covariance_matrix)
    np.testing.assert_allclose(D.kl_divergence(low, low2).numpy(), D.kl_divergence(full, full2).numpy(), rtol=1e-10)


def test_independent_kl_sums(device):
    p, _ = build("Normal", draw_params("Normal", 1), device)
    q, _ = build("Normal", draw_params("Normal", 2), device)
    kl = D.kl_divergence(D.Independent(p, 1), D.Independent(q, 1)).numpy()
    np.testing.assert_allclose(kl, D.kl_divergence(p, q).numpy().sum(-1), rtol=1e-14)
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Independent(p, 1), D.Independent(q, 2))


def test_infinite_divergences(device):
    n = D.Normal(_t([0.0, 1.0], device), _t([1.0, 2.0], device))
    for q in (D.Uniform(_t(-1.0, device), _t(1.0, device)), D.Exponential(_t(1.0, device))):
        np.testing.assert_array_equal(D.kl_divergence(n, q).numpy(), [math.inf, math.inf])
    u = D.Uniform(_t([0.0, 0.2], device), _t([1.0, 0.8], device))
    q = D.Uniform(_t([0.1, 0.0], device), _t([2.0, 1.0], device))
    kl = D.kl_divergence(u, q).numpy()
    assert kl[0] == math.inf and kl[1] == pytest.approx(math.log(1 / 0.6))
    below = D.Uniform(_t([-1.0, 0.5], device), _t([1.0, 1.0], device))
    assert D.kl_divergence(below, D.Exponential(_t(1.0, device))).numpy()[0] == math.inf


def test_exponential_family_bregman_kl_equals_the_closed_form(device):
    from gradkit.distributions.kl import _kl_expfamily_expfamily

    p, _ = build("Normal", draw_params("Normal", 1), device)
    q, _ = build("Normal", draw_params("Normal", 2), device)
    np.testing.assert_allclose(_kl_expfamily_expfamily(p, q).numpy(), D.kl_divergence(p, q).numpy(), rtol=1e-10)
    e1, e2 = D.Exponential(_t([0.5, 2.0], device)), D.Exponential(_t([1.5, 0.3], device))
    np.testing.assert_allclose(_kl_expfamily_expfamily(e1, e2).numpy(), D.kl_divergence(e1, e2).numpy(), rtol=1e-10)
    with pytest.raises(NotImplementedError, match="different exponential families"):
        _kl_expfamily_expfamily(p, e1)
    np.testing.assert_allclose(D.ExponentialFamily.entropy(p).numpy(), p.entropy().numpy(), rtol=1e-12)


def test_no_registered_pair_raises_a_gradkit_not_implemented_error():
    with pytest.raises(D.DistributionNotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type "
                       "Cauchy and q type Normal") as info:  # fmt: skip
        D.kl_divergence(D.Cauchy(0.0, 1.0), D.Normal(0.0, 1.0))
    assert isinstance(info.value, NotImplementedError) and isinstance(info.value, gk.GradkitError)
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.LogNormal(0.0, 1.0), D.HalfNormal(1.0))  # transformed, different transforms
    with pytest.raises(gk.ArgumentTypeError):
        D.kl_divergence(D.Normal(0.0, 1.0), 3.0)


class _BaseP(D.Normal):
    pass


class _DerivedP(_BaseP):
    pass


class _BaseQ(D.Normal):
    pass


class _DerivedQ(_BaseQ):
    pass


def test_dispatch_takes_the_most_specific_pair_and_warns_when_ambiguous():
    from gradkit.distributions import kl

    saved = dict(kl._KL_REGISTRY)
    try:
        D.register_kl(_BaseP, _DerivedQ)(lambda p, q: "base-derived")
        D.register_kl(_DerivedP, _BaseQ)(lambda p, q: "derived-base")
        p, q = _DerivedP(0.0, 1.0), _DerivedQ(0.0, 1.0)
        with pytest.warns(RuntimeWarning, match="Ambiguous kl_divergence"):
            assert D.kl_divergence(p, q) == "derived-base"
        D.register_kl(_DerivedP, _DerivedQ)(lambda p, q: "derived-derived")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert D.kl_divergence(p, q) == "derived-derived"
            assert D.kl_divergence(_BaseP(0.0, 1.0), q) == "base-derived"
            # a subclass pair with nothing more specific uses the family's own closed form
            assert D.kl_divergence(_BaseP(0.0, 1.0), _BaseQ(1.0, 1.0)).item() == pytest.approx(0.5)
    finally:
        kl._KL_REGISTRY.clear()
        kl._KL_REGISTRY.update(saved)
        kl._KL_MEMOIZE.clear()


def test_register_kl_checks_its_types():
    with pytest.raises(gk.ArgumentTypeError, match="type_p"):
        D.register_kl(int, D.Normal)
    with pytest.raises(gk.ArgumentTypeError, match="type_q"):
        D.register_kl(D.Normal, "Normal")
