"""The discrete and relaxed families of gk.distributions against SciPy (log_prob, entropy, mean, variance) and
against closed forms (the Concrete densities, the continuous Bernoulli by quadrature, the mixture by its
sum); enumerate_support; lazily computed probs/logits; values outside the support without validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from discrete_cases import SHAPE, K, build, cb_density, cb_moments, draw_params, scipy_dist, support_values, tensor

import gradkit as gk
import gradkit.distributions as D

RTOL = 1e-10


@pytest.mark.parametrize("name", ["Bernoulli", "Geometric", "Poisson", "Binomial", "NegativeBinomial"])
def test_counts_match_scipy(name, device):
    pytest.importorskip("scipy")
    p = draw_params(name)
    d, _ = build(name, p, device)
    ref = scipy_dist(name, p)
    v = support_values(name, p)
    np.testing.assert_allclose(d.log_prob(tensor(v, device)).numpy(), ref.logpmf(v), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(d.mean.numpy(), ref.mean(), rtol=RTOL)
    np.testing.assert_allclose(d.variance.numpy(), ref.var(), rtol=RTOL)
    np.testing.assert_allclose(d.stddev.numpy(), ref.std(), rtol=RTOL)
    if name in ("Bernoulli", "Geometric"):
        np.testing.assert_allclose(d.entropy().numpy(), ref.entropy(), rtol=1e-9)
    if name != "Bernoulli":  # SciPy's mode of a Bernoulli at 1/2 is 0, PyTorch's NaN
        assert d.log_prob(d.mode).shape == SHAPE
    assert d.log_prob(tensor(v, device)).dtype == gk.float64


def test_binomial_entropy_and_support_match_scipy(device):
    stats = pytest.importorskip("scipy.stats")
    probs = np.array([[0.1, 0.5, 0.95], [0.3, 0.0, 1.0]])
    d = D.Binomial(6, tensor(probs, device))
    np.testing.assert_allclose(d.entropy().numpy(), stats.binom(6, probs).entropy(), rtol=1e-9, atol=1e-12)
    values = d.enumerate_support()
    assert values.shape == (7, 2, 3) and d.enumerate_support(expand=False).shape == (7, 1, 1)
    np.testing.assert_array_equal(values.numpy()[:, 1, 2], np.arange(7.0))
    pmf = np.exp(d.log_prob(values).numpy())
    np.testing.assert_allclose(pmf.sum(0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(pmf, stats.binom(6, probs).pmf(np.arange(7.0)[:, None, None]), rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(d.mode.numpy(), np.minimum(np.floor(7 * probs), 6))
    with pytest.raises(NotImplementedError, match="inhomogeneous"):
        D.Binomial(tensor([2.0, 3.0], device), tensor(0.5, device)).enumerate_support()


def test_categorical_closed_forms(device):
    p = draw_params("Categorical")["probs"]
    d = D.Categorical(tensor(p, device))
    pn = p / p.sum(-1, keepdims=True)
    np.testing.assert_allclose(d.probs.numpy(), pn, rtol=1e-14)
    v = support_values("Categorical", p).astype(np.int64)
    expected = np.log(np.take_along_axis(np.broadcast_to(pn, v.shape + (K,)), v[..., None], -1)[..., 0])
    np.testing.assert_allclose(d.log_prob(gk.tensor(v, device=device)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(d.log_prob(tensor(v, device)).numpy(), expected, rtol=1e-12)  # float values too
    np.testing.assert_allclose(d.entropy().numpy(), -(pn * np.log(pn)).sum(-1), rtol=1e-12)
    np.testing.assert_array_equal(d.mode.numpy(), pn.argmax(-1))
    assert np.isnan(d.mean.numpy()).all() and np.isnan(d.variance.numpy()).all() and d.mean.shape == SHAPE
    logits = D.Categorical(logits=tensor(np.log(p) + 3.0, device))
    np.testing.assert_allclose(logits.probs.numpy(), pn, rtol=1e-12)
    np.testing.assert_allclose(np.exp(logits.logits.numpy()).sum(-1), 1.0, rtol=1e-12)  # normalised
    assert d.param_shape == SHAPE + (K,) and d.support.upper_bound == K - 1
    support = d.enumerate_support()
    assert support.shape == (K,) + SHAPE and support.dtype == gk.int64
    assert d.enumerate_support(False).shape == (K, 1, 1)
    np.testing.assert_allclose(np.exp(d.log_prob(support).numpy()).sum(0), 1.0, rtol=1e-12)


def test_categorical_zero_probabilities(device):
    d = D.Categorical(tensor([0.0, 0.5, 0.5, 0.0], device))
    assert d.log_prob(0).item() == -math.inf or d.log_prob(0).item() < -30  # log of the clamped 0
    assert d.entropy().item() == pytest.approx(math.log(2), rel=1e-12)
    lg = D.Categorical(logits=tensor([-math.inf, 0.0, 0.0], device))
    assert lg.entropy().item() == pytest.approx(math.log(2), rel=1e-12)
    assert lg.log_prob(0).item() == -math.inf


def test_one_hot_categorical(device):
    p = draw_params("OneHotCategorical")["probs"]
    d, _ = build("OneHotCategorical", {"probs": p}, device)
    cat = D.Categorical(tensor(p, device))
    v = support_values("OneHotCategorical", p)
    expected = cat.log_prob(tensor(v.argmax(-1), device)).numpy()
    np.testing.assert_allclose(d.log_prob(tensor(v, device)).numpy(), expected, rtol=1e-14)
    np.testing.assert_allclose(d.entropy().numpy(), cat.entropy().numpy(), rtol=1e-14)
    np.testing.assert_allclose(d.mean.numpy(), cat.probs.numpy(), rtol=1e-14)
    np.testing.assert_allclose(d.variance.numpy(), (cat.probs * (1 - cat.probs)).numpy(), rtol=1e-14)
    np.testing.assert_array_equal(d.mode.numpy(), np.eye(K)[cat.mode.numpy()])
    e = d.enumerate_support()
    assert e.shape == (K,) + SHAPE + (K,) and d.enumerate_support(expand=False).shape == (K, 1, 1, K)
    np.testing.assert_array_equal(e.numpy()[:, 1, 2], np.eye(K))
    assert d.event_shape == (K,) and d.batch_shape == SHAPE and d.param_shape == SHAPE + (K,)


def test_bernoulli_closed_forms(device):
    d = D.Bernoulli(logits=tensor([-2.0, 0.0, 3.0], device))
    p = 1 / (1 + np.exp([2.0, 0.0, -3.0]))
    np.testing.assert_allclose(d.probs.numpy(), p, rtol=1e-14)
    np.testing.assert_allclose(d.log_prob(tensor([1.0, 0.0, 0.0], device)).numpy(), np.log([p[0], 0.5, 1 - p[2]]),
                               rtol=1e-13)  # fmt: skip
    mode = d.mode.numpy()
    assert mode[0] == 0 and np.isnan(mode[1]) and mode[2] == 1
    s = d.enumerate_support()
    assert s.shape == (2, 3) and s.dtype == gk.float64 and d.enumerate_support(False).shape == (2, 1)
    # far tails: the log mass stays accurate where 1 - p underflows relative to 1
    far = D.Bernoulli(logits=tensor([40.0, -40.0], device))
    np.testing.assert_allclose(far.log_prob(tensor([0.0, 1.0], device)).numpy(), [-40.0, -40.0], rtol=1e-14)
    np.testing.assert_allclose(far.log_prob(tensor([1.0, 0.0], device)).numpy(), [-math.exp(-40)] * 2, rtol=1e-12)


def test_continuous_bernoulli_by_quadrature(device):
    pytest.importorskip("scipy")
    lam = np.array([0.05, 0.3, 0.4995, 0.5, 0.5004, 0.7, 0.97])  # three inside the Taylor region
    d = D.ContinuousBernoulli(tensor(lam, device))
    x = np.linspace(0.03, 0.97, 7)
    np.testing.assert_allclose(d.log_prob(tensor(x, device)).numpy(), np.log(cb_density(lam, x)), rtol=1e-6,
                               atol=1e-12)  # fmt: skip
    moments = np.array([cb_moments(v) for v in lam])
    np.testing.assert_allclose(d.mean.numpy(), moments[:, 0], rtol=1e-6)
    np.testing.assert_allclose(d.variance.numpy(), moments[:, 1], rtol=1e-6)
    np.testing.assert_allclose(d.entropy().numpy(), moments[:, 2], rtol=1e-6, atol=1e-9)
    from scipy import integrate

    cdf = np.array([integrate.quad(lambda t, v=v: cb_density(v, t), 0, xi, epsabs=1e-14)[0]
                    for v, xi in zip(lam, x, strict=True)])  # fmt: skip
    got = d.cdf(tensor(x, device)).numpy()
    stable = np.abs(lam - 0.5) > 0.001
    np.testing.assert_allclose(got[stable], cdf[stable], rtol=1e-6)
    np.testing.assert_allclose(got[~stable], x[~stable], rtol=1e-15)  # the uniform's CDF there (PyTorch's)
    np.testing.assert_allclose(got[~stable], cdf[~stable], atol=1e-3)
    np.testing.assert_allclose(d.cdf(d.icdf(tensor(x, device))).numpy(), x, rtol=1e-6)
    np.testing.assert_array_equal(d.cdf(tensor(np.zeros(7), device)).numpy(), 0.0)
    np.testing.assert_array_equal(d.cdf(tensor(np.ones(7), device)).numpy(), 1.0)


def test_continuous_bernoulli_probs_are_clamped(device):
    d = D.ContinuousBernoulli(tensor([0.0, 1.0], device))
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(d.probs.numpy(), [eps, 1 - eps])
    assert np.isfinite(d.log_prob(tensor([0.5, 0.5], device)).numpy()).all()
    lg = D.ContinuousBernoulli(logits=tensor([-1.0, 2.0], device))
    np.testing.assert_allclose(lg.probs.numpy(), 1 / (1 + np.exp([1.0, -2.0])), rtol=1e-14)
    wide = D.ContinuousBernoulli(tensor([0.45, 0.52], device), lims=(0.4, 0.6))  # Taylor forms used further out
    np.testing.assert_allclose(wide.mean.numpy(), D.ContinuousBernoulli(tensor([0.45, 0.52], device)).mean.numpy(),
                               rtol=1e-4)  # fmt: skip


def test_poisson_and_negative_binomial_edges(device):
    p = D.Poisson(tensor([0.0, 2.0], device))
    np.testing.assert_allclose(p.log_prob(tensor([0.0, 0.0], device)).numpy(), [0.0, -2.0])
    assert p.log_prob(tensor([1.0, 1.0], device)).numpy()[0] == -math.inf
    np.testing.assert_array_equal(D.Poisson(tensor([0.5, 2.7], device)).mode.numpy(), [0.0, 2.0])
    nb = D.NegativeBinomial(tensor([0.0, 0.0, 2.0], device), tensor([0.3, 0.3, 0.0], device))
    lp = nb.log_prob(tensor([0.0, 2.0, 0.0], device)).numpy()
    assert lp[0] == 0.0 and lp[1] == -math.inf and abs(lp[2]) < 1e-12
    logits = D.NegativeBinomial(tensor(3.0, device), logits=tensor(0.4, device))
    probs = D.NegativeBinomial(tensor(3.0, device), tensor(1 / (1 + math.exp(-0.4)), device))
    two = tensor(2.0, device)
    np.testing.assert_allclose(logits.log_prob(two).numpy(), probs.log_prob(two).numpy(), rtol=1e-12)
    np.testing.assert_allclose(logits.mode.numpy(), np.floor(2 * math.exp(0.4)))


def test_geometric_edges(device):
    g = D.Geometric(tensor([1.0, 0.5], device))
    np.testing.assert_allclose(g.log_prob(tensor([0.0, 0.0], device)).numpy(), [0.0, math.log(0.5)])
    np.testing.assert_array_equal(g.mode.numpy(), [0.0, 0.0])
    gk.manual_seed(0)
    x = g.sample((50,)).numpy()
    assert (x[:, 0] == 0).all() and not np.signbit(x[:, 0]).any()
    lg = D.Geometric(logits=tensor([0.3], device))
    np.testing.assert_allclose(lg.probs.numpy(), [1 / (1 + math.exp(-0.3))], rtol=1e-14)


def test_multinomial_matches_scipy(device):
    stats = pytest.importorskip("scipy.stats")
    p = np.array([[0.2, 0.3, 0.5], [0.05, 0.15, 0.8]])
    d = D.Multinomial(5, tensor(p, device))
    x = np.array([[[1.0, 2.0, 2.0], [0.0, 0.0, 5.0]], [[5.0, 0.0, 0.0], [1.0, 1.0, 3.0]]])
    ref = np.array([[stats.multinomial(5, p[j]).logpmf(x[i, j]) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(d.log_prob(tensor(x, device)).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(d.entropy().numpy(), [stats.multinomial(5, v).entropy() for v in p], rtol=1e-12)
    np.testing.assert_allclose(d.mean.numpy(), 5 * p, rtol=1e-14)
    np.testing.assert_allclose(d.variance.numpy(), 5 * p * (1 - p), rtol=1e-14)
    # log_prob reads the total from each value (PyTorch's rule) and takes a zero logit's zero count as 1
    np.testing.assert_allclose(d.log_prob(tensor([1.0, 1.0, 1.0], device)).numpy()[0],
                               stats.multinomial(3, p[0]).logpmf([1, 1, 1]), rtol=1e-12)  # fmt: skip
    z = D.Multinomial(3, logits=tensor([-math.inf, 0.0, 0.0], device))
    assert z.log_prob(tensor([0.0, 1.0, 2.0], device)).item() == pytest.approx(math.log(3 / 8), rel=1e-12)


def _concrete_binary(lam, logits, y):
    a = np.exp(logits)
    return np.log(lam * a * y ** (-lam - 1) * (1 - y) ** (-lam - 1) / (a * y ** (-lam) + (1 - y) ** (-lam)) ** 2)


def _concrete(lam, logits, x):
    n = logits.shape[-1]
    a = np.exp(logits)
    return (math.lgamma(n) + (n - 1) * np.log(lam) + np.log(a * x ** (-lam - 1)).sum(-1)
            - n * np.log((a * x ** (-lam)).sum(-1)))  # fmt: skip


def test_relaxed_densities_are_the_concrete_densities(device):
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 3))
    lam = 0.7
    rb = D.RelaxedBernoulli(tensor(lam, device), logits=tensor(logits, device))
    y = rng.uniform(0.05, 0.95, (4, 2, 3))
    np.testing.assert_allclose(rb.log_prob(tensor(y, device)).numpy(), _concrete_binary(lam, logits, y), rtol=1e-10)
    lrb = D.LogitRelaxedBernoulli(tensor(lam, device), logits=tensor(logits, device))
    z = np.log(y) - np.log1p(-y)
    np.testing.assert_allclose(lrb.log_prob(tensor(z, device)).numpy(),
                               _concrete_binary(lam, logits, y) + np.log(y * (1 - y)), rtol=1e-10)  # fmt: skip
    rc = D.RelaxedOneHotCategorical(tensor(lam, device), logits=tensor(logits, device))
    assert rc.batch_shape == (2,) and rc.event_shape == (3,)
    x = rng.dirichlet(np.ones(3), (4, 2))
    np.testing.assert_allclose(rc.log_prob(tensor(x, device)).numpy(), _concrete(lam, logits, x), rtol=1e-10)
    erc = D.ExpRelaxedCategorical(tensor(lam, device), logits=tensor(logits, device))
    np.testing.assert_allclose(erc.log_prob(tensor(np.log(x), device)).numpy(),
                               _concrete(lam, logits, x) + np.log(x).sum(-1), rtol=1e-10)  # fmt: skip
    assert rb.temperature.item() == lam and rc.temperature.item() == lam
    np.testing.assert_allclose(rb.probs.numpy(), 1 / (1 + np.exp(-logits)), rtol=1e-14)
    np.testing.assert_allclose(rc.probs.numpy(), np.exp(logits) / np.exp(logits).sum(-1, keepdims=True), rtol=1e-14)


def test_mixture_same_family_by_its_sum(device):
    rng = np.random.default_rng(4)
    w, loc, scale = rng.uniform(0.2, 1.0, (2, 3)), rng.normal(size=(2, 3)), rng.uniform(0.5, 1.5, (2, 3))
    mix = D.MixtureSameFamily(D.Categorical(tensor(w, device)), D.Normal(tensor(loc, device), tensor(scale, device)))
    assert mix.batch_shape == (2,) and mix.event_shape == ()
    x = rng.normal(size=(5, 2))
    wn = w / w.sum(-1, keepdims=True)
    dens = (wn * np.exp(-0.5 * ((x[..., None] - loc) / scale) ** 2) / (scale * math.sqrt(2 * math.pi))).sum(-1)
    np.testing.assert_allclose(mix.log_prob(tensor(x, device)).numpy(), np.log(dens), rtol=1e-12)
    mean = (wn * loc).sum(-1)
    np.testing.assert_allclose(mix.mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(mix.variance.numpy(), (wn * (scale**2 + loc**2)).sum(-1) - mean**2, rtol=1e-10)
    from math import erf

    cdf = (wn * 0.5 * (1 + np.vectorize(erf)((x[..., None] - loc) / (scale * math.sqrt(2))))).sum(-1)
    np.testing.assert_allclose(mix.cdf(tensor(x, device)).numpy(), cdf, rtol=1e-12)
    # one set of weights for the whole batch, and vector-valued components
    shared = D.MixtureSameFamily(D.Categorical(tensor(w[0], device)),
                                 D.Normal(tensor(loc, device), tensor(scale, device)))  # fmt: skip
    wn0 = wn[0]
    dens0 = (wn0 * np.exp(-0.5 * ((x[..., None] - loc) / scale) ** 2) / (scale * math.sqrt(2 * math.pi))).sum(-1)
    np.testing.assert_allclose(shared.log_prob(tensor(x, device)).numpy(), np.log(dens0), rtol=1e-12)
    comp = D.Independent(D.Normal(tensor(rng.normal(size=(3, 2)), device), tensor(1.0, device)), 1)
    vec = D.MixtureSameFamily(D.Categorical(tensor(w[0], device)), comp)
    assert vec.batch_shape == () and vec.event_shape == (2,)
    assert vec.log_prob(tensor(rng.normal(size=(4, 2)), device)).shape == (4,)
    assert vec.mean.shape == (2,) and vec.variance.shape == (2,)
    np.testing.assert_allclose(vec.mean.numpy(), (wn0[:, None] * comp.mean.numpy()).sum(0), rtol=1e-12)


def test_lazy_probs_and_logits(device):
    d = D.Bernoulli(tensor([0.2, 0.7], device))
    assert "logits" not in d.__dict__  # validation does not compute it
    assert d.param_shape == (2,)
    logits = d.logits
    assert d.logits is logits and "logits" in d.__dict__
    lg = D.Binomial(3, logits=tensor([0.5], device))
    assert "probs" not in lg.__dict__
    np.testing.assert_allclose(lg.mean.numpy(), 3 / (1 + math.exp(-0.5)), rtol=1e-14)
    assert repr(D.Bernoulli(0.3)) == "Bernoulli(probs: 0.30000001192092896)"
    assert repr(D.Categorical(gk.ones(3))) == "Categorical(probs: (3,))"


def test_outside_the_support_without_validation(device):
    b = D.Bernoulli(tensor(0.3, device), validate_args=False)
    assert np.isfinite(b.log_prob(tensor(0.5, device)).item())
    g = D.Geometric(tensor(0.3, device), validate_args=False)
    assert g.log_prob(tensor(-1.0, device)).item() == pytest.approx(-math.log(0.7) + math.log(0.3))  # unchecked
    cb = D.ContinuousBernoulli(tensor(0.3, device), validate_args=False)
    assert cb.cdf(tensor(1.5, device)).item() == 1.0 and cb.cdf(tensor(-0.5, device)).item() == 0.0
