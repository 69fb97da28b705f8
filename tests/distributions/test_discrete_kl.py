"""kl_divergence of the discrete and continuous-Bernoulli families: against exact sums over the support,
closed forms written out here and Monte Carlo estimates (fixed seed, loose); the infinite divergences, the
pairs with none, and the Binomial rule on total counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from discrete_cases import build, cb_density, draw_params, tensor

import gradkit as gk
import gradkit.distributions as D


def _mc_kl(p, q, n=40000):
    gk.manual_seed(0)
    x = p.expand(np.broadcast_shapes(p.batch_shape, q.batch_shape)).sample((n,))
    return (p.log_prob(x) - q.log_prob(x)).mean(axis=0).numpy()


@pytest.mark.parametrize("name", ["Bernoulli", "Geometric", "Poisson", "Categorical", "OneHotCategorical",
                                  "NegativeBinomial"])  # fmt: skip
def test_same_family_kl_is_the_sum_over_the_support(name, device):
    p, _ = build(name, draw_params(name, 1), device)
    q, _ = build(name, draw_params(name, 2), device)
    if name == "NegativeBinomial":  # no KL registered (as PyTorch)
        with pytest.raises(NotImplementedError):
            D.kl_divergence(p, q)
        return
    kl = D.kl_divergence(p, q).numpy()
    assert kl.shape == (2, 3) and (kl >= -1e-12).all()
    if name in ("Categorical", "OneHotCategorical", "Bernoulli"):
        x = p.enumerate_support()
    else:
        x = gk.tensor(np.arange(200.0)[:, None, None] * np.ones((1, 2, 3)), dtype=gk.float64, device=device)
    lp, lq = p.log_prob(x).numpy(), q.log_prob(x).numpy()
    np.testing.assert_allclose(kl, (np.exp(lp) * (lp - lq)).sum(0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(kl, _mc_kl(p, q), rtol=0.1, atol=0.03)
    np.testing.assert_allclose(D.kl_divergence(p, p).numpy(), 0.0, atol=1e-12)


def test_binomial_kl(device):
    probs_p, probs_q = np.array([0.2, 0.5, 0.9]), np.array([0.4, 0.5, 0.3])
    p = D.Binomial(tensor([6.0, 6.0, 6.0], device), tensor(probs_p, device))
    q = D.Binomial(tensor([6.0, 6.0, 6.0], device), tensor(probs_q, device))
    kl = D.kl_divergence(p, q).numpy()
    x = p.enumerate_support()
    lp, lq = p.log_prob(x).numpy(), q.log_prob(x).numpy()
    np.testing.assert_allclose(kl, (np.exp(lp) * (lp - lq)).sum(0), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(kl, _mc_kl(p, q), rtol=0.1, atol=0.02)
    more = D.Binomial(tensor([7.0, 6.0, 8.0], device), tensor(probs_p, device))
    np.testing.assert_array_equal(np.isinf(D.kl_divergence(more, q).numpy()), [True, False, True])
    with pytest.raises(NotImplementedError, match="q.total_count > p.total_count"):
        D.kl_divergence(q, more)


def test_bernoulli_kl_closed_form_and_edges(device):
    a, b = 0.3, 0.8
    expected = a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b))
    assert D.kl_divergence(D.Bernoulli(tensor(a, device)), D.Bernoulli(tensor(b, device))).item() == pytest.approx(
        expected, rel=1e-12)  # fmt: skip
    p = D.Bernoulli(tensor([0.0, 1.0, 0.3, 0.3], device))
    q = D.Bernoulli(tensor([0.5, 0.5, 0.0, 1.0], device))
    np.testing.assert_allclose(D.kl_divergence(p, q).numpy(), [math.log(2), math.log(2), math.inf, math.inf])
    lp = D.Bernoulli(logits=tensor([0.4], device))
    lq = D.Bernoulli(tensor([0.7], device))
    pa = 1 / (1 + math.exp(-0.4))
    expected = pa * math.log(pa / 0.7) + (1 - pa) * math.log((1 - pa) / 0.3)
    assert D.kl_divergence(lp, lq).item() == pytest.approx(expected, rel=1e-12)


def test_categorical_kl_with_zero_probabilities(device):
    p = D.Categorical(tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], device))
    q = D.Categorical(tensor([[0.25, 0.25, 0.5], [0.0, 0.5, 0.5]], device))
    kl = D.kl_divergence(p, q).numpy()
    assert kl[0] == pytest.approx(math.log(2), rel=1e-12) and kl[1] == math.inf
    one = D.OneHotCategorical(tensor([0.5, 0.5, 0.0], device))
    assert D.kl_divergence(one, D.OneHotCategorical(tensor([0.25, 0.25, 0.5], device))).item() == pytest.approx(
        math.log(2), rel=1e-12)  # fmt: skip
    batch = D.kl_divergence(D.Categorical(tensor([0.2, 0.8], device)), D.Categorical(tensor([[0.5, 0.5]] * 3, device)))
    assert batch.shape == (3,)


def test_poisson_and_geometric_closed_forms(device):
    r1, r2 = 1.5, 4.0
    assert D.kl_divergence(D.Poisson(tensor(r1, device)), D.Poisson(tensor(r2, device))).item() == pytest.approx(
        r1 * math.log(r1 / r2) - r1 + r2, rel=1e-12)  # fmt: skip
    a, b = 0.3, 0.6
    # E[k] = (1 - a) / a failures, each log((1 - a) / (1 - b)), plus log(a / b)
    expected = math.log(a / b) + (1 - a) / a * math.log((1 - a) / (1 - b))
    assert D.kl_divergence(D.Geometric(tensor(a, device)), D.Geometric(tensor(b, device))).item() == pytest.approx(
        expected, rel=1e-12)  # fmt: skip


def test_bernoulli_poisson(device):
    p = D.Bernoulli(tensor([0.3, 0.9], device))
    q = D.Poisson(tensor([0.5, 2.0], device))
    x = p.enumerate_support()
    lp, lq = p.log_prob(x).numpy(), q.log_prob(x).numpy()
    np.testing.assert_allclose(D.kl_divergence(p, q).numpy(), (np.exp(lp) * (lp - lq)).sum(0), rtol=1e-12)
    inf = D.kl_divergence(q, p).numpy()
    assert inf.shape == (2,) and np.isinf(inf).all()
    assert np.isinf(D.kl_divergence(q, D.Binomial(3, tensor([0.5, 0.5], device))).numpy()).all()


def _quad_kl(lam, logq):
    from scipy import integrate

    f = lambda x: cb_density(lam, x) * (np.log(cb_density(lam, x)) - logq(x))  # noqa: E731
    return integrate.quad(f, 0, 1, epsabs=1e-13, epsrel=1e-12)[0]


def test_continuous_bernoulli_kls_by_quadrature(device):
    pytest.importorskip("scipy")
    lam = np.array([0.15, 0.4996, 0.7])
    p = D.ContinuousBernoulli(tensor(lam, device))
    lam2 = 0.35
    q = D.ContinuousBernoulli(tensor(lam2, device))
    expected = [_quad_kl(v, lambda x: np.log(cb_density(lam2, x))) for v in lam]
    np.testing.assert_allclose(D.kl_divergence(p, q).numpy(), expected, rtol=1e-6, atol=1e-9)
    e = D.Exponential(tensor(1.7, device))
    expected = [_quad_kl(v, lambda x: math.log(1.7) - 1.7 * x) for v in lam]
    np.testing.assert_allclose(D.kl_divergence(p, e).numpy(), expected, rtol=1e-6)
    n = D.Normal(tensor(0.3, device), tensor(0.8, device))
    expected = [_quad_kl(v, lambda x: -0.5 * ((x - 0.3) / 0.8) ** 2 - math.log(0.8 * math.sqrt(2 * math.pi)))
                for v in lam]  # fmt: skip
    np.testing.assert_allclose(D.kl_divergence(p, n).numpy(), expected, rtol=1e-6)
    u = D.Uniform(tensor(-0.5, device), tensor(1.5, device))
    expected = [_quad_kl(v, lambda x: -math.log(2.0)) for v in lam]
    np.testing.assert_allclose(D.kl_divergence(p, u).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(D.kl_divergence(p, n).numpy(), _mc_kl(p, n), rtol=0.05)


def test_uniform_continuous_bernoulli(device):
    pytest.importorskip("scipy")
    from scipy import integrate

    u = D.Uniform(tensor([0.1, 0.0, 0.2], device), tensor([0.6, 0.5, 1.0], device))
    q = D.ContinuousBernoulli(tensor(0.3, device))
    kl = D.kl_divergence(u, q).numpy()
    f = lambda x: (np.log(1 / 0.5) - np.log(cb_density(0.3, x))) / 0.5  # noqa: E731
    assert kl[0] == pytest.approx(integrate.quad(f, 0.1, 0.6)[0], rel=1e-8)
    assert np.isinf(kl[1:]).all()  # an interval reaching 0 or 1 (PyTorch's rule)
    cb = D.ContinuousBernoulli(tensor([0.3, 0.3, 0.3], device))
    narrow = D.Uniform(tensor([-0.1, 0.0, -1.0], device), tensor([1.2, 2.0, 1.0], device))
    assert np.isinf(D.kl_divergence(cb, narrow).numpy()[1:]).all() and np.isfinite(
        D.kl_divergence(cb, narrow).numpy()[0])  # fmt: skip


def test_infinite_and_missing_pairs(device):
    cb = D.ContinuousBernoulli(tensor([0.3, 0.6], device))
    for p in (D.Normal(tensor([0.0, 1.0], device), 1.0), D.Laplace(tensor([0.0, 1.0], device), 1.0),
              D.Gumbel(tensor([0.0, 1.0], device), 1.0), D.Exponential(tensor([1.0, 2.0], device))):  # fmt: skip
        kl = D.kl_divergence(p, cb).numpy()
        assert kl.shape == (2,) and np.isinf(kl).all(), type(p).__name__
    for p, q in [(D.Bernoulli(0.3), D.Binomial(3, 0.3)), (D.Bernoulli(0.3), D.ContinuousBernoulli(0.3)),
                 (D.Categorical(gk.ones(2)), D.OneHotCategorical(gk.ones(2))), (D.Poisson(1.0), D.Geometric(0.3)),
                 (D.Multinomial(3, gk.ones(2)), D.Multinomial(3, gk.ones(2))),
                 (D.NegativeBinomial(2.0, 0.3), D.Poisson(1.0))]:  # fmt: skip
        with pytest.raises(NotImplementedError):
            D.kl_divergence(p, q)


def test_relaxed_kl_goes_through_the_transformed_pair(device):
    t = tensor(0.5, device)
    p = D.RelaxedBernoulli(t, tensor([0.3], device))
    q = D.RelaxedBernoulli(t, tensor([0.6], device))
    with pytest.raises(NotImplementedError):
        D.kl_divergence(p, q)  # the base LogitRelaxedBernoulli pair has none (as PyTorch)
