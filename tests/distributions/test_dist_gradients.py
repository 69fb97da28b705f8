"""Gradients of gk.distributions (log_prob, cdf, icdf, entropy, rsample, kl_divergence) with respect to the
parameters (and the value), against central differences in float64 with ``gk.gradcheck``. A reparameterised
sample is checked with the generator reseeded inside the function, so each evaluation draws the same noise."""

from __future__ import annotations

import numpy as np
import pytest
from dist_cases import FAMILIES, PARAMS, draw_params, support_values

import gradkit as gk
import gradkit.distributions as D


def _params(name, device, seed=0):
    """Parameters of shape (3,) as float64 tensors, in the family's argument order."""
    p = draw_params(name, seed)
    return [gk.tensor(p[k][0], dtype=gk.float64, device=device) for k in PARAMS[name][0]], p


def _make(name, *params):
    return getattr(D, name)(*params, validate_args=False)


@pytest.mark.parametrize("name", FAMILIES)
def test_log_prob_cdf_gradients(name, device):
    params, p = _params(name, device)
    value = gk.tensor(support_values(name, p, n=1)[0, 0], dtype=gk.float64, device=device)
    assert gk.gradcheck(lambda *a: _make(name, *a[:-1]).log_prob(a[-1]), [*params, value])
    assert gk.gradcheck(lambda *a: _make(name, *a[:-1]).cdf(a[-1]), [*params, value])


@pytest.mark.parametrize("name", FAMILIES)
def test_icdf_entropy_gradients(name, device):
    params, _ = _params(name, device)
    q = gk.tensor([0.2, 0.5, 0.85], dtype=gk.float64, device=device)
    assert gk.gradcheck(lambda *a: _make(name, *a[:-1]).icdf(a[-1]), [*params, q])
    assert gk.gradcheck(lambda *a: _make(name, *a).entropy(), params)


@pytest.mark.parametrize("name", FAMILIES)
def test_rsample_gradients(name, device):
    params, _ = _params(name, device)

    def draw(*a):
        gk.manual_seed(7)
        return _make(name, *a).rsample((2,))

    assert gk.gradcheck(draw, params)
    x = draw(*[t.requires_grad_() for t in params])
    assert x.requires_grad and x.shape == (2, 3)
    x.sum().backward()
    assert all(t.grad is not None for t in params)


def test_sample_carries_no_graph(device):
    loc = gk.tensor([0.0, 1.0], dtype=gk.float64, device=device, requires_grad=True)
    assert not D.Normal(loc, 1.0).sample((3,)).requires_grad
    assert D.Normal(loc, 1.0).rsample((3,)).requires_grad


KL_PAIRS = [
    ("Normal", "Normal"), ("Uniform", "Uniform"), ("Exponential", "Exponential"), ("Laplace", "Laplace"),
    ("Cauchy", "Cauchy"), ("Gumbel", "Gumbel"), ("HalfNormal", "HalfNormal"), ("LogNormal", "LogNormal"),
    ("Normal", "Laplace"), ("Normal", "Gumbel"), ("Laplace", "Normal"), ("Gumbel", "Normal"),
    ("Exponential", "Normal"), ("Exponential", "Gumbel"), ("Uniform", "Normal"), ("Uniform", "Gumbel"),
]


@pytest.mark.parametrize(("pname", "qname"), KL_PAIRS)
def test_kl_gradients(pname, qname, device):
    pp, _ = _params(pname, device, seed=1)
    qp, _ = _params(qname, device, seed=2)
    if (pname, qname) == ("Uniform", "Uniform"):  # q's interval must hold p's for a finite divergence
        qp = [qp[0] - 3.0, qp[1] + 3.0]
    k = len(pp)
    assert gk.gradcheck(lambda *a: D.kl_divergence(_make(pname, *a[:k]), _make(qname, *a[k:])), [*pp, *qp])


def test_uniform_exponential_kl_gradient(device):
    low = gk.tensor([0.1, 0.5], dtype=gk.float64, device=device)
    high = gk.tensor([1.0, 2.5], dtype=gk.float64, device=device)
    rate = gk.tensor([0.7, 1.3], dtype=gk.float64, device=device)
    assert gk.gradcheck(lambda lo, hi, r: D.kl_divergence(_make("Uniform", lo, hi), _make("Exponential", r)),
                        [low, high, rate])  # fmt: skip


def _mvn_inputs(device, seed, n=2):
    rng = np.random.default_rng(seed)
    tril = np.tril(rng.normal(size=(n, n)), -1) + np.diag(rng.uniform(0.5, 1.5, n))
    return (gk.tensor(rng.normal(size=n), dtype=gk.float64, device=device),
            gk.tensor(tril, dtype=gk.float64, device=device))  # fmt: skip


def _mvn(loc, tril):
    return D.MultivariateNormal(loc, scale_tril=gk.tril(tril), validate_args=False)


def test_multivariate_normal_gradients(device):
    loc, tril = _mvn_inputs(device, 0)
    value = gk.tensor([0.4, -0.3], dtype=gk.float64, device=device)
    assert gk.gradcheck(lambda m, t, v: _mvn(m, t).log_prob(v), [loc, tril, value])
    assert gk.gradcheck(lambda m, t: _mvn(m, t).entropy(), [loc, tril])

    def draw(m, t):
        gk.manual_seed(3)
        return _mvn(m, t).rsample((2,))

    assert gk.gradcheck(draw, [loc, tril])
    loc2, tril2 = _mvn_inputs(device, 1)
    q = _mvn(loc2, tril2)
    assert gk.gradcheck(lambda a, b: D.kl_divergence(_mvn(a, b), q), [loc, tril])
    assert gk.gradcheck(lambda c, d: D.kl_divergence(q, _mvn(c, d)), [loc, tril])


@pytest.mark.parametrize("form", ["covariance_matrix", "precision_matrix"])
def test_multivariate_normal_matrix_gradients(form, device):
    loc, tril = _mvn_inputs(device, 0)
    value = gk.tensor([0.4, -0.3], dtype=gk.float64, device=device)
    cov = gk.matmul(tril, tril.mT)
    assert gk.gradcheck(lambda c: D.MultivariateNormal(loc, **{form: (c + c.mT) / 2},
                                                       validate_args=False).log_prob(value), [cov])  # fmt: skip


def test_lowrank_multivariate_normal_gradients(device):
    rng = np.random.default_rng(4)
    loc, w, diag = (gk.tensor(x, dtype=gk.float64, device=device)
                    for x in (rng.normal(size=3), rng.normal(size=(3, 1)), rng.uniform(0.5, 1.5, 3)))  # fmt: skip
    value = gk.tensor(rng.normal(size=3), dtype=gk.float64, device=device)

    def low(m, w, d):
        return D.LowRankMultivariateNormal(m, w, d, validate_args=False)

    assert gk.gradcheck(lambda m, w, d, v: low(m, w, d).log_prob(v), [loc, w, diag, value])
    assert gk.gradcheck(lambda m, w, d: low(m, w, d).entropy(), [loc, w, diag])
    loc2, tril2 = _mvn_inputs(device, 2, n=3)
    full = _mvn(loc2, tril2)
    assert gk.gradcheck(lambda w, d: D.kl_divergence(low(loc, w, d), full), [w, diag])
    assert gk.gradcheck(lambda w, d: D.kl_divergence(full, low(loc, w, d)), [w, diag])
    assert gk.gradcheck(lambda w, d: D.kl_divergence(low(loc, w, d), low(loc2, w * 0.5, d + 1)), [w, diag])


def test_independent_and_transformed_gradients(device):
    params, _ = _params("Normal", device)
    value = gk.tensor([0.3, -0.2, 1.1], dtype=gk.float64, device=device)
    assert gk.gradcheck(lambda m, s, v: D.Independent(_make("Normal", m, s), 1).log_prob(v), [*params, value])
    t = D.ComposeTransform([D.AffineTransform(0.5, 2.0), D.TanhTransform()])
    assert gk.gradcheck(lambda m, s, v: D.TransformedDistribution(_make("Normal", m, s), t).log_prob(v * 0.3),
                        [*params, value])  # fmt: skip
    q = D.Independent(_make("Normal", params[0] + 1, params[1] * 2), 1)
    assert gk.gradcheck(lambda m, s: D.kl_divergence(D.Independent(_make("Normal", m, s), 1), q), params)
    assert gk.gradcheck(lambda m, s: D.LogisticNormal(m, s, validate_args=False).log_prob(
        D.StickBreakingTransform()(value)), params)  # fmt: skip
