"""Gradients of the gamma family (part two of gk.distributions).

The reparameterised gamma draw's gradient dX/da is the implicit one, -(dF/da) / (dF/dx) for the regularised
incomplete gamma function F: it is checked against central differences of SciPy's inverse (gammaincinv at
the sample's own probability) and, as an estimator, by the derivatives of known expectations (the comparison
with PyTorch's ``_standard_gamma_grad`` is in test_gamma_family_torch.py). Every other gradient (log_prob, cdf,
icdf, entropy, mean, variance, KL, the samples of the families not built on gamma draws) is checked against
central differences in float64 with ``gk.gradcheck``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gamma_family_cases import HAS_CDF, HAS_ENTROPY, HAS_ICDF, PARAMS, draw_params, support_values

import gradkit as gk
import gradkit.distributions as D
from gradkit.distributions._standard_gamma import _dx_da, gammainc_a, standard_gamma


def _t(x, device, requires_grad=False):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device=device, requires_grad=requires_grad)


def _params(name, device, seed=0):
    """Parameters of shape (3,) as float64 tensors, in the constructor's order, and the NumPy draw."""
    p = draw_params(name, seed)
    return [_t(p[k][0], device) for k in PARAMS[name][0]], p


def _make(name, *params):
    return getattr(D, name)(*params, validate_args=False)


# ------------------------------------------------------------------ the implicit gradient of a gamma draw
A_VALUES = [1e-3, 0.05, 0.3, 1.0, 2.7, 9.0, 60.0, 700.0, 1500.0, 4e4, 3e6]
QUANTILES = [1e-9, 1e-3, 0.05, 0.3, 0.5, 0.8, 0.99, 1 - 1e-6]


def test_dx_da_matches_central_differences_of_the_inverse_cdf():
    special = pytest.importorskip("scipy.special")
    for a in A_VALUES:
        x = special.gammaincinv(a, np.array(QUANTILES))
        keep = (x > 1e-280) & np.isfinite(x)  # (tiny a: the lower quantiles underflow)
        x, u = x[keep], np.array(QUANTILES)[keep]
        u = special.gammainc(a, x)  # the probability of the sample itself
        h = 1e-6 * a
        numeric = (special.gammaincinv(a + h, u) - special.gammaincinv(a - h, u)) / (2 * h)
        got = _dx_da(np, np.full(x.shape, a), x)
        np.testing.assert_allclose(got, numeric, rtol=2e-6, err_msg=f"a = {a}")
        assert (got > 0).all()


def test_dx_da_three_routes_agree_where_they_meet():
    # the series (x below a + 1 + sqrt(a)/2), the continued fraction (above) and Temme's expansion (a >= 1000,
    # |eta| <= 0.13) are each exact to ~1e-14: on either side of their borders they give one function
    optimize = pytest.importorskip("scipy.optimize")
    a = np.array([0.3, 50.0, 999.0])
    border = a + 1 + 0.5 * np.sqrt(a)
    below = _dx_da(np, a, np.nextafter(border, 0))
    above = _dx_da(np, a, np.nextafter(border, np.inf))
    np.testing.assert_allclose(below, above, rtol=1e-12)
    for side in (-1, 1):  # eta = +-0.13 at a = 1000
        x = optimize.brentq(lambda x: x / 1000 - 1 - math.log(x / 1000) - 0.13**2 / 2, 1000 * (1 + side * 0.01),
                            1000 * (1 + side * 0.3), xtol=1e-13)  # fmt: skip
        pair = _dx_da(np, np.full(2, 1000.0), np.array([np.nextafter(x, 0), np.nextafter(x, np.inf)]))
        np.testing.assert_allclose(pair[0], pair[1], rtol=1e-12)
    a = np.array([np.nextafter(1000.0, 0), 1000.0])  # the series below a = 1000, Temme's expansion at it
    pair = _dx_da(np, a, np.full(2, 1003.0))
    np.testing.assert_allclose(pair[0], pair[1], rtol=1e-12)


def test_dx_da_closed_forms_and_edges():
    # for x near 0, F(x; a) ~ x^a / Gamma(a + 1): X ~ (U Gamma(a + 1))^(1/a), so dX/da ~ x (psi(a + 1) - log x) / a
    special = pytest.importorskip("scipy.special")
    a = np.array([0.5, 0.01, 2.0])
    x = np.array([1e-30, 1e-200, 1e-12])
    np.testing.assert_allclose(_dx_da(np, a, x), x * (special.digamma(a + 1) - np.log(x)) / a, rtol=1e-9)
    # a = 1: dP/da = -E1(x) - e^-x (log x + Euler's gamma), so dX/da = e^x E1(x) + log x + Euler's gamma
    x = np.array([0.05, 0.3, 1.0, 2.5, 7.0, 40.0, 300.0])
    expected = np.exp(x) * special.exp1(x) + np.log(x) + np.euler_gamma
    np.testing.assert_allclose(_dx_da(np, np.ones_like(x), x), expected, rtol=1e-13)
    edges = _dx_da(np, np.array([1.0, -1.0, 1.0, np.inf, np.nan, 1.0, 0.0]),
                   np.array([0.0, 1.0, -1.0, 1.0, 1.0, np.nan, 1.0]))  # fmt: skip
    assert edges[0] == 0.0 and np.isnan(edges[1:]).all()
    for dtype in (np.float32, np.float64):
        out = _dx_da(np, np.array([2.0], dtype=dtype), np.array([1.5], dtype=dtype))
        assert out.dtype == dtype
    assert _dx_da(np, np.zeros((0,)), np.zeros((0,))).shape == (0,)


def test_standard_gamma_op(device):
    a = _t([0.3, 1.0, 4.0, 2000.0], device, requires_grad=True)
    gk.manual_seed(0)
    x = standard_gamma(a)
    assert x.shape == (4,) and x.dtype == gk.float64 and x.requires_grad and (x.numpy() > 0).all()
    g = _t([1.0, -2.0, 0.5, 3.0], device)
    x.backward(g)
    expected = g.numpy() * _dx_da(np, a.numpy(), x.numpy())
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-14)
    gk.manual_seed(0)
    np.testing.assert_array_equal(standard_gamma(a.detach()).numpy(), x.numpy())
    with gk.no_grad():
        assert not standard_gamma(a).requires_grad
    small = standard_gamma(gk.tensor([1e-3] * 2000, dtype=gk.float32, device=device))
    assert small.dtype == gk.float32 and (small.numpy() >= np.finfo(np.float32).tiny).all()
    assert standard_gamma(gk.ones((0, 3), device=device)).shape == (0, 3)


def test_gamma_rsample_gradient_is_the_implicit_one(device):
    c = _t([0.4, 2.5], device, requires_grad=True)
    rate = _t([2.0, 0.5], device, requires_grad=True)
    gk.manual_seed(1)
    y = D.Gamma(c, rate).rsample((3,))
    y.sum().backward()
    x = y.numpy() * rate.numpy()  # the standard draws
    np.testing.assert_allclose(c.grad.numpy(), (_dx_da(np, np.broadcast_to(c.numpy(), x.shape), x)
                                                / rate.numpy()).sum(0), rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(rate.grad.numpy(), (-y.numpy() / rate.numpy()).sum(0), rtol=1e-12)


# d/dtheta E[f(X)] = E[f'(X) dX/dtheta]: the samples' gradients average to the derivative of a known mean
EXPECTATIONS = [
    # family, parameters, f, d E[f] / d parameters
    ("Gamma", [1.7, 0.8], lambda x: x, [1 / 0.8, -1.7 / 0.8**2]),
    ("Gamma", [0.3, 1.0], lambda x: gk.sqrt(x), [None, None]),
    ("Chi2", [3.0], lambda x: x**2, [2 * 3.0 + 2]),  # E[X^2] = 2k + k^2
    ("Beta", [0.7, 2.0], lambda x: x, [2.0 / 2.7**2, -0.7 / 2.7**2]),
    ("StudentT", [5.0, 0.3, 2.0], lambda x: x**2, [-4.0 * 2 / 9, 0.6, 2 * 2.0 * 5 / 3]),
    ("FisherSnedecor", [4.0, 9.0], lambda x: x, [0.0, -2 / 49]),
    ("InverseGamma", [3.0, 2.0], lambda x: x, [-2.0 / 4, 0.5]),
]


@pytest.mark.parametrize("case", range(len(EXPECTATIONS)))
def test_reparameterised_gradients_are_unbiased(case, device):
    name, values, f, expected = EXPECTATIONS[case]
    params = [_t(v, device, requires_grad=True) for v in values]
    d = _make(name, *params)
    gk.manual_seed(3)
    n = 100_000
    f(d.rsample((n,))).mean().backward()
    if name == "Gamma" and values[0] == 0.3:  # E[sqrt X] = Gamma(a + 1/2) / Gamma(a): its derivative in a
        a = values[0]
        special = pytest.importorskip("scipy.special")
        mean = special.gamma(a + 0.5) / special.gamma(a)
        expected = [mean * (special.digamma(a + 0.5) - special.digamma(a)), None]
    for p, e in zip(params, expected, strict=True):
        if e is not None:
            assert p.grad.item() == pytest.approx(e, rel=0.06, abs=0.01), (name, p.grad.item(), e)


def test_dirichlet_gradients_are_unbiased(device):
    c = _t([0.5, 1.5, 3.0], device, requires_grad=True)
    gk.manual_seed(4)
    x = D.Dirichlet(c).rsample((100_000,))
    w = _t([1.0, -2.0, 0.5], device)
    (x * w).sum(-1).mean().backward()  # d/dc of w . c / sum(c)
    total = 5.0
    expected = w.numpy() / total - (w.numpy() @ c.numpy()) / total**2
    np.testing.assert_allclose(c.grad.numpy(), expected, rtol=0.05, atol=0.01)


# ------------------------------------------------------------------ gk.gradcheck in float64
@pytest.mark.parametrize("name", list(PARAMS))
def test_log_prob_cdf_icdf_gradients(name, device):
    params, p = _params(name, device)
    value = _t(support_values(name, p, n=1)[0, 0], device)
    assert gk.gradcheck(lambda *a: _make(name, *a[:-1]).log_prob(a[-1]), [*params, value])
    if name in HAS_CDF:
        assert gk.gradcheck(lambda *a: _make(name, *a[:-1]).cdf(a[-1]), [*params, value])
    if name in HAS_ICDF:
        q = _t([0.2, 0.5, 0.85], device)
        assert gk.gradcheck(lambda *a: _make(name, *a[:-1]).icdf(a[-1]), [*params, q])


@pytest.mark.parametrize("name", list(PARAMS))
def test_moment_and_entropy_gradients(name, device):
    params, _ = _params(name, device)
    attrs = ["mean", "variance"] + (["mode"] if name not in ("Pareto", "StudentT", "VonMises",
                                                             "GeneralizedPareto") else [])  # fmt: skip
    for attr in attrs:
        assert gk.gradcheck(lambda *a, attr=attr: getattr(_make(name, *a), attr), params), attr
    if name in HAS_ENTROPY:
        assert gk.gradcheck(lambda *a: _make(name, *a).entropy(), params)


@pytest.mark.parametrize("name", ["Pareto", "Weibull", "Kumaraswamy", "GeneralizedPareto"])
def test_rsample_gradients_of_the_transformed_families(name, device):
    params, _ = _params(name, device)

    def draw(*a):
        gk.manual_seed(7)
        return _make(name, *a).rsample((2,))

    assert gk.gradcheck(draw, params)


def test_gamma_cdf_is_differentiable_in_the_concentration(device):
    c = _t([0.4, 2.0, 30.0], device)
    rate = _t([1.5, 0.7, 2.0], device)
    x = _t([0.2, 3.0, 14.0], device)
    assert gk.gradcheck(lambda c, r, x: D.Gamma(c, r).cdf(x), [c, rate, x])
    assert gk.gradcheck(lambda c, x: D.Chi2(c).cdf(x), [c, x])
    assert gk.gradcheck(lambda c, r, x: D.InverseGamma(c, r).cdf(x), [c, rate, x])
    # gammainc_a broadcasts, takes numbers and is P(a, x) itself
    a = _t([[0.5], [3.0]], device, requires_grad=True)
    out = gammainc_a(a, _t([0.1, 1.0, 10.0], device))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.numpy(), gk.special.gammainc(a.detach(), _t([0.1, 1.0, 10.0], device)).numpy())
    out.sum().backward()
    assert a.grad.shape == (2, 1) and (a.grad.numpy() < 0).all()
    assert gk.gradcheck(lambda a: gammainc_a(a, 2.5), [_t([0.7, 4.0], device)])
    assert gk.gradcheck(lambda x: gammainc_a(1.5, x), [_t([0.7, 4.0], device)])


def _dirichlet_inputs(device):
    return _t([0.7, 1.5, 3.0], device), _t([0.2, 0.3, 0.5], device)


def test_multivariate_family_gradients(device):
    c, v = _dirichlet_inputs(device)
    assert gk.gradcheck(lambda c, v: D.Dirichlet(c, validate_args=False).log_prob(v), [c, v])
    for attr in ("mean", "variance"):
        assert gk.gradcheck(lambda c, attr=attr: getattr(D.Dirichlet(c), attr), [c])
    assert gk.gradcheck(lambda c: D.Dirichlet(c).entropy(), [c])
    assert gk.gradcheck(lambda c: D.Dirichlet(c * 1.5 + 1).mode, [c])
    eta = _t([0.5, 2.0], device)
    corr = D.LKJCholesky(3, _t(1.0, device)).sample()
    assert gk.gradcheck(lambda e: D.LKJCholesky(3, e).log_prob(corr), [eta])
    rng = np.random.default_rng(5)
    a = rng.normal(size=(2, 2))
    tril = _t(np.linalg.cholesky(a @ a.T + np.eye(2)), device)
    df = _t([3.5], device)
    value = _t(a @ a.T + 2 * np.eye(2), device)

    def wishart(df, t):
        return D.Wishart(df, scale_tril=gk.tril(t), validate_args=False)

    assert gk.gradcheck(lambda d, t, v: wishart(d, t).log_prob((v + v.mT) / 2), [df, tril, value])
    assert gk.gradcheck(lambda d, t: wishart(d, t).entropy(), [df, tril])
    assert gk.gradcheck(lambda d, t: wishart(d, t).mean, [df, tril])
    assert gk.gradcheck(lambda d, t: wishart(d, t).variance, [df, tril])

    def draw(t):
        gk.manual_seed(2)
        return wishart(df, t).rsample((2,))

    assert gk.gradcheck(draw, [tril])


KL_PAIRS = [
    ("Gamma", "Gamma"), ("Beta", "Beta"), ("Pareto", "Pareto"), ("Chi2", "Gamma"), ("Gamma", "Exponential"),
    ("Exponential", "Gamma"), ("Gamma", "Normal"), ("Gamma", "Gumbel"), ("Beta", "Normal"), ("Beta", "Gamma"),
    ("Beta", "Exponential"), ("Pareto", "Exponential"), ("Pareto", "Gamma"), ("Pareto", "Normal"),
    ("InverseGamma", "InverseGamma"),
]
_PART_ONE = {"Exponential": [[0.7, 1.3, 2.0]], "Normal": [[0.3, -0.5, 1.0], [0.8, 1.5, 2.0]],
             "Gumbel": [[0.3, -0.5, 1.0], [0.8, 1.5, 2.0]]}  # fmt: skip


def _kl_params(name, device, seed):
    if name in _PART_ONE:
        return [_t(v, device) for v in _PART_ONE[name]]
    params, _ = _params(name, device, seed)
    return params


@pytest.mark.parametrize(("pname", "qname"), KL_PAIRS)
def test_kl_gradients(pname, qname, device):
    pp = _kl_params(pname, device, 1)
    qp = _kl_params(qname, device, 2)
    if (pname, qname) == ("Pareto", "Pareto"):  # q's support must hold p's for a finite divergence
        qp = [qp[0] * 0.3, qp[1]]
    k = len(pp)
    assert gk.gradcheck(lambda *a: D.kl_divergence(_make(pname, *a[:k]), _make(qname, *a[k:])), [*pp, *qp])


def test_kl_gradients_with_uniform_and_dirichlet(device):
    low, high = _t([0.1, 0.3], device), _t([0.6, 0.9], device)
    beta = [_t([0.7, 2.0], device), _t([1.5, 0.8], device)]
    gamma = [_t([0.7, 2.0], device), _t([1.5, 0.8], device)]
    pareto = [_t([0.05, 0.2], device), _t([2.5, 1.5], device)]
    for q_name, q_params in (("Beta", beta), ("Gamma", gamma), ("Pareto", pareto)):
        assert gk.gradcheck(lambda lo, hi, a, b, q_name=q_name: D.kl_divergence(
            D.Uniform(lo, hi), _make(q_name, a, b)), [low, high, *q_params])  # fmt: skip
    assert gk.gradcheck(lambda a, b, lo, hi: D.kl_divergence(_make("Beta", a, b), D.Uniform(lo - 1, hi + 1)),
                        [*beta, low, high])  # fmt: skip
    c1, _ = _dirichlet_inputs(device)
    assert gk.gradcheck(lambda a, b: D.kl_divergence(D.Dirichlet(a), D.Dirichlet(b)), [c1, c1 * 2 + 0.5])


def test_infinite_kl_has_no_nan_gradient(device):
    alpha = _t([0.5, 3.0], device, requires_grad=True)
    scale = _t([1.0, 1.0], device, requires_grad=True)
    rate = _t(1.5, device, requires_grad=True)
    kl = D.kl_divergence(D.Pareto(scale, alpha), D.Exponential(rate))
    assert kl.numpy()[0] == math.inf and np.isfinite(kl.numpy()[1])
    kl[1].backward()
    assert np.isfinite(alpha.grad.numpy()).all() and np.isfinite(rate.grad.numpy())
    low = _t([-0.5, 0.2], device, requires_grad=True)
    kl = D.kl_divergence(D.Uniform(low, low + 1), D.Gamma(_t(2.0, device), _t(1.0, device)))
    assert kl.numpy()[0] == math.inf
    kl[1].backward()
    assert np.isfinite(low.grad.numpy()).all()
