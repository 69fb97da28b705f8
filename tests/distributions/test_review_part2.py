"""Review of gk.distributions part 2 (the discrete, relaxed and gamma families), as a PyTorch user writing a
policy-gradient agent, a Bayesian model with Gamma/Beta/Dirichlet priors, a mixture model and a count model
would use them, and two fixes in part one's modules.

- The emulated CuPy's Generator took CuPy's method specs with ``self`` in them, so ``standard_gamma(a)``,
  ``beta(a, b)``, ``poisson(lam=...)`` or ``random(size=...)`` were refused and calls CuPy refuses accepted; its
  beta/uniform take a dtype as CuPy 14's do.
- PowerTransform with a number exponent: its sign is a number (a tensor on the default device made
  TransformedDistribution.cdf/icdf raise DeviceError for parameters elsewhere), and comparing it with a tensor
  exponent on another device is no error.
- The Bregman KL of two exponential-family members sums each term over its own parameter's event axes (Wishart's
  batch-shaped (df - p - 1)/2 raised, or was summed over the batch) and, as the Bregman entropy, is
  differentiable in p's parameters (PyTorch's detaches them: no gradient reached them).
- Beta and Dirichlet normalise their gamma draws through logarithms: Beta(1e-3, 1e-3) had a quarter of its
  draws at exactly 0.5 (both gamma draws below float64's range; PyTorch 2.14's sampler too).
- Categorical sampling over many categories searches the cumulative probabilities (1000 categories: about 20x
  PyTorch's time before, 1.5-2x now) and draws the same indices.
- Binomial.log_prob keeps its digits where p is near 0 or 1 (PyTorch's loses 3 to 12 of them).
- Host reads: a validated Categorical/OneHotCategorical log_prob reads the device once, Multinomial.entropy and
  an unvalidated Wishart's log_prob, entropy and KL (and their gradients) not at all, a MixtureSameFamily sample
  not at all.
- An invalid ``logits`` is reported as ``logits`` by the families that wrap a Categorical or a base distribution;
  InverseGamma's shape errors name InverseGamma.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from emulated_cupy import core as emulated
from emulated_cupy import cupy_api
from nn._host_reads import count_host_reads

import gradkit as gk
import gradkit.distributions as D
from gradkit.distributions import _discrete
from gradkit.distributions._standard_gamma import _dx_da, log_standard_gamma, standard_gamma
from gradkit.distributions.kl import _kl_expfamily_expfamily


def t64(x, device="cpu", requires_grad=False):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device=device, requires_grad=requires_grad)


# ------------------------------------------------------------------ the emulated CuPy's Generator
def test_emulated_generator_takes_cupy_14_signatures():
    # CuPy 14.2's Generator (cupy/random/_generator_api.pyx): the methods and parameters, without self
    assert set(cupy_api.GENERATOR) == {
        "beta", "binomial", "chisquare", "dirichlet", "exponential", "f", "gamma", "geometric", "hypergeometric",
        "integers", "logseries", "poisson", "power", "random", "standard_exponential", "standard_gamma",
        "standard_normal", "uniform"}  # fmt: skip
    assert all(spec[0][0] != "self" for spec in cupy_api.GENERATOR.values() if spec)
    assert [p[0] for p in cupy_api.GENERATOR["standard_gamma"]] == ["shape", "size", "dtype", "out"]
    g = emulated.Generator(0)
    a = emulated.MODULE.asarray(np.array([0.5, 2.0]))
    assert g.standard_gamma(a).shape == (2,)
    assert g.gamma(a).shape == (2,)
    assert g.beta(a, a, None, np.float32).dtype == np.float32  # CuPy's beta takes a dtype, NumPy's does not
    assert g.beta(a, a, dtype=np.float32).dtype == np.float32
    assert g.uniform(0.0, 1.0, (3,), np.float32).dtype == np.float32
    assert g.poisson(lam=a).shape == (2,)
    assert g.random(size=(3,)).shape == (3,)
    assert g.standard_normal().shape == ()
    assert g.binomial(10, 0.5, size=(4,)).shape == (4,)
    with pytest.raises(TypeError, match="too many positional"):
        g.binomial(10, 0.5, (2,), 4)
    with pytest.raises(TypeError, match="unexpected keyword argument 'dtype'"):
        g.poisson(a, dtype=np.float32)
    with pytest.raises(AttributeError):
        g.permutation  # noqa: B018  (CuPy's Generator has none)
    # the same stream as before: positional and keyword calls draw alike
    x = emulated.Generator(1).standard_gamma(a, (5, 2))
    y = emulated.Generator(1).standard_gamma(shape=a, size=(5, 2))
    np.testing.assert_array_equal(x.get(), y.get())


# ------------------------------------------------------------------ part one: PowerTransform, Bregman KL
def test_power_transform_with_a_number_exponent_works_on_the_parameters_device(device):
    low, high = t64([0.5, 1.0], device), t64([2.0, 3.0], device)
    t = D.PowerTransform(-1.5)
    assert t.sign == -1 and D.PowerTransform(2).sign == 1 and D.PowerTransform(0.0).sign == 0
    d = D.TransformedDistribution(D.Uniform(low, high), [t, D.AffineTransform(0.0, 2.0)])
    x = t64([[1.5, 0.6], [3.0, 1.2]], device)
    u = np.array([[1.5, 0.6], [3.0, 1.2]]) / 2
    lo, hi = np.array([0.5, 1.0]), np.array([2.0, 3.0])
    expected = 1 - (u ** (-1 / 1.5) - lo) / (hi - lo)  # a decreasing chain
    np.testing.assert_allclose(d.cdf(x).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(d.icdf(d.cdf(x)).numpy(), x.numpy(), rtol=1e-12)
    assert D.PowerTransform(2.0) == D.PowerTransform(gk.tensor(2.0, device=device))
    assert D.PowerTransform(gk.tensor(2.0, device=device)) == D.PowerTransform(2.0)
    assert D.PowerTransform(2.0) != D.PowerTransform(gk.tensor(3.0, device=device))


def _wisharts(device, shape, seed=0, requires_grad=True):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(2):
        a = rng.normal(size=shape + (3, 3))
        df = t64(rng.uniform(3.5, 8.0, shape), device, requires_grad)
        cov = t64(a @ np.swapaxes(a, -1, -2) + 3 * np.eye(3), device, requires_grad)
        out.append((df, cov))
    return out


@pytest.mark.parametrize("shape", [(), (3,)])
def test_bregman_kl_sums_each_natural_parameter_over_its_own_event_axes(device, shape):
    (df_p, cov_p), (df_q, cov_q) = _wisharts(device, shape)
    params = [df_p, cov_p, df_q, cov_q]
    closed = D.kl_divergence(D.Wishart(df_p, cov_p), D.Wishart(df_q, cov_q))
    bregman = _kl_expfamily_expfamily(D.Wishart(df_p, cov_p), D.Wishart(df_q, cov_q))
    assert bregman.shape == shape
    np.testing.assert_allclose(bregman.numpy(), closed.numpy(), rtol=1e-10)
    # differentiable in p's parameters too (PyTorch's detaches them: zero gradients for df_p and cov_p)
    g_closed = gk.autograd.grad(closed.sum(), params)
    g_bregman = gk.autograd.grad(bregman.sum(), params)
    for a, b in zip(g_bregman, g_closed, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)
    assert np.abs(g_bregman[0].numpy()).min() > 1e-3


def test_bregman_entropy_is_differentiable_in_the_parameters(device):
    c = t64([0.7, 2.0, 5.0], device, True)
    r = t64([1.5, 0.5, 2.0], device, True)
    fallback = D.ExponentialFamily.entropy(D.Gamma(c, r))
    closed = D.Gamma(c, r).entropy()
    np.testing.assert_allclose(fallback.numpy(), closed.numpy(), rtol=1e-12)
    for a, b in zip(gk.autograd.grad(fallback.sum(), [c, r]), gk.autograd.grad(closed.sum(), [c, r]), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10)


# ------------------------------------------------------------------ Bayesian priors: Beta and Dirichlet draws
@pytest.mark.parametrize("dtype", [gk.float32, gk.float64])
def test_beta_and_dirichlet_with_small_concentrations(device, dtype):
    stats = pytest.importorskip("scipy.stats")

    gk.manual_seed(0)
    n = 40000
    x = D.Beta(gk.tensor(1e-3, dtype=dtype, device=device), 1e-3).sample((n,)).numpy().astype(np.float64)
    inside = ((x > 0.01) & (x < 0.99)).mean()
    assert inside < 0.02  # 0.0046; the normalised gamma draws put 25% at 0.5
    expected = stats.beta(1e-3, 1e-3).cdf(0.99) - stats.beta(1e-3, 1e-3).cdf(0.01)
    assert abs(inside - expected) < 5 * math.sqrt(expected / n)
    assert abs(x.var() - 0.25 / 1.002) < 0.01
    assert x.min() > 0  # at least the dtype's smallest normal number, as PyTorch's
    d = D.Dirichlet(gk.tensor([1e-3] * 4, dtype=dtype, device=device)).sample((n,)).numpy().astype(np.float64)
    assert (np.abs(d - 0.25) < 0.01).all(-1).mean() == 0  # no draw at the centre
    assert (d.max(-1) > 0.99).mean() > 0.95
    np.testing.assert_allclose(d.sum(-1), 1.0, rtol=1e-6)


def test_beta_and_dirichlet_draws_and_gradients_as_the_normalised_gamma_draws(device):
    a, b = t64(np.full(300, 0.7), device, True), t64(np.full(300, 2.5), device, True)
    gk.manual_seed(3)
    x = D.Beta(a, b).rsample()
    ga, gb = gk.autograd.grad(x.sum(), [a, b])
    gk.manual_seed(3)
    g1, g0 = standard_gamma(a), standard_gamma(b)
    y = g1 / (g1 + g0)
    ha, hb = gk.autograd.grad(y.sum(), [a, b])
    np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-13)
    np.testing.assert_allclose(ga.numpy(), ha.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gb.numpy(), hb.numpy(), rtol=1e-10, atol=1e-14)
    # E[X] = a / (a + b): its slope in a, b / (a + b)^2, from the pathwise gradients of small concentrations
    a = t64(np.full(100000, 0.01), device, True)
    gk.manual_seed(0)
    (ga,) = gk.autograd.grad(D.Beta(a, 0.05).rsample().sum(), [a])
    assert abs(ga.numpy().mean() - 0.05 / 0.06**2) < 0.05 * 0.05 / 0.06**2
    assert np.isfinite(ga.numpy()).all()


def test_log_gamma_slope_continues_below_the_series_threshold():
    # d(log X)/da = (dX/da) / X; below log X = -575 the series' first term (psi(a + 1) - log x) / a
    a = np.array([1e-3, 1e-2, 0.3])
    for log_x in (-574.0, -576.0):
        x = np.exp(np.full(3, log_x))
        exact = _dx_da(np, a, x) / x
        first = (_digamma(a + 1) - log_x) / a
        np.testing.assert_allclose(first, exact, rtol=1e-13)
    c = t64([1e-3, 0.5], requires_grad=True)
    gk.manual_seed(1)
    log_g = log_standard_gamma(c)
    (g,) = gk.autograd.grad(log_g.sum(), [c])
    assert np.isfinite(g.numpy()).all()


def _digamma(x):
    special = pytest.importorskip("scipy.special")

    return special.digamma(x)


# ------------------------------------------------------------------ policy gradient: Categorical
def test_categorical_sampling_over_many_categories(device, monkeypatch):
    rng = np.random.default_rng(0)
    for k, batch in ((1000, ()), (40, (3,)), (18, (2, 2))):
        p = rng.uniform(0, 1, batch + (k,))
        p[..., [0, 5, k - 1]] = 0.0  # categories never drawn
        probs = t64(p, device)
        u = rng.uniform(0, 1, (300,) + batch)
        cdf = np.cumsum(p, -1)
        u[0] = cdf[..., 7] / cdf[..., -1]  # a tie with a cumulative probability
        u[1] = 0.0
        searched = _discrete.categorical_indices(probs, t64(u, device)).numpy()
        monkeypatch.setattr(_discrete, "_SEARCH_FROM", 10**9)
        compared = _discrete.categorical_indices(probs, t64(u, device)).numpy()
        monkeypatch.undo()
        np.testing.assert_array_equal(searched, compared)
        assert not np.isin(searched, [0, 5, k - 1]).any()
    logits = rng.normal(size=(2, 50))
    gk.manual_seed(0)
    x = D.Categorical(logits=t64(logits, device)).sample((40000,)).numpy()
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    freq = np.stack([(x == j).mean(0) for j in range(50)], -1)
    assert np.abs((freq - p) / np.sqrt(p * (1 - p) / 40000)).max() < 5


def test_a_policy_gradient_step_reads_the_device_once_per_check(device, monkeypatch):
    logits = t64(np.random.default_rng(0).normal(size=(8, 6)), device, True)
    reads = count_host_reads(device, monkeypatch)
    pi = D.Categorical(logits=logits)  # validated: one read
    a = pi.sample()
    loss = -(pi.log_prob(a) * t64(np.ones(8), device)).sum() - 0.01 * pi.entropy().sum()  # one read: the value
    loss.backward()
    assert len(reads) == 2
    del reads[:]
    pi = D.Categorical(logits=logits, validate_args=False)
    pi.log_prob(pi.sample())  # gather checks the indices, as PyTorch's raises for one out of range
    assert len(reads) == 1
    del reads[:]
    oh = D.OneHotCategorical(logits=logits, validate_args=False)
    (oh.log_prob(oh.sample()).sum() + oh.entropy().sum()).backward()
    assert len(reads) == 0
    D.Multinomial(6, logits=logits, validate_args=False).entropy().sum().backward()
    assert len(reads) == 0
    mix = D.MixtureSameFamily(D.Categorical(logits=logits[0], validate_args=False),
                              D.Normal(t64(np.arange(6.0), device), 1.0, validate_args=False))  # fmt: skip
    mix.sample((5,))
    assert len(reads) == 0


def test_categorical_log_prob_out_of_range_still_raises_without_validation(device):
    d = D.Categorical(logits=t64(np.zeros(3), device), validate_args=False)
    with pytest.raises(gk.IndexOutOfRangeError):
        d.log_prob(gk.tensor([3], device=device))


# ------------------------------------------------------------------ Wishart/LKJ priors: no reads
def test_wishart_and_lkj_log_prob_entropy_kl_read_nothing_back(device, monkeypatch):
    (df_p, cov_p), (df_q, cov_q) = _wisharts(device, (2,))
    x = t64(np.eye(3) * [[1.0], [2.0], [3.0]] + 0.5, device)  # positive definite
    reads = count_host_reads(device, monkeypatch)
    p = D.Wishart(df_p, cov_p, validate_args=False)  # df checked (one read), as PyTorch's; the Cholesky one more
    q = D.Wishart(df_q, cov_q, validate_args=False)
    assert len(reads) == 4
    del reads[:]
    (p.log_prob(x) + p.entropy() + D.kl_divergence(p, q)).sum().backward()
    c = t64([0.5, 2.0], device, True)
    lkj = D.LKJCholesky(3, c, validate_args=False)
    lkj.log_prob(t64(np.eye(3), device)).sum().backward()
    assert len(reads) == 0


# ------------------------------------------------------------------ count model: Binomial accuracy
def test_binomial_log_prob_keeps_its_digits_near_0_and_1(device):
    n = 1e6
    for p, k, expected in ((1e-12, 0.0, n * math.log1p(-1e-12)), (1 - 1e-12, n, n * math.log(1 - 1e-12))):
        d = D.Binomial(t64(n, device), t64(p, device))
        np.testing.assert_allclose(d.log_prob(t64(k, device)).numpy(), expected, rtol=1e-12)
    d = D.Binomial(t64([7.0, 0.0, 1.0], device), logits=t64([0.6, -0.8, -0.7], device), validate_args=False)
    x = t64([[math.inf] * 3, [-math.inf] * 3, [3.0, 0.0, 1.0]], device)
    torch = pytest.importorskip("torch")
    tb = torch.distributions.Binomial(torch.tensor([7.0, 0.0, 1.0], dtype=torch.float64),
                                      logits=torch.tensor([0.6, -0.8, -0.7], dtype=torch.float64),
                                      validate_args=False)  # fmt: skip
    expected = tb.log_prob(torch.tensor([[math.inf] * 3, [-math.inf] * 3, [3.0, 0.0, 1.0]], dtype=torch.float64))
    np.testing.assert_allclose(d.log_prob(x).numpy(), expected.numpy(), rtol=1e-12)  # -inf and NaN alike


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("make", [
    lambda **kw: D.OneHotCategorical(**kw), lambda **kw: D.Multinomial(3, **kw),
    lambda **kw: D.ExpRelaxedCategorical(1.0, **kw), lambda **kw: D.RelaxedOneHotCategorical(1.0, **kw),
    lambda **kw: D.RelaxedBernoulli(1.0, **kw)])  # fmt: skip
def test_an_invalid_parameter_is_named_as_given(make):
    with pytest.raises(gk.InvalidArgumentError, match="expected parameter logits "):
        make(logits=t64([[0.0, math.nan, 1.0]]))  # its probs are NaN too: they were named
    with pytest.raises(gk.InvalidArgumentError, match="expected parameter probs "):
        make(probs=t64([[0.2, -0.5, 0.3]]))


def test_inverse_gamma_shape_errors_name_it():
    with pytest.raises(gk.ShapeError, match="^InverseGamma"):
        D.InverseGamma(t64([1.0, 2.0]), t64([1.0, 2.0, 3.0]))
