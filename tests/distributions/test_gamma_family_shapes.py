"""The part-two families' shapes (batch/event/sample, expand, broadcasting of parameters and values), dtypes
and devices, repr, validation errors, what they do not implement, sample moments and supports, and the
seeded generator."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from gamma_family_cases import FAMILIES, PARAMS, REPARAMETERIZED, build, draw_params, support_values

import gradkit as gk
import gradkit.distributions as D


def _t(x, device, dtype=gk.float64):
    return gk.tensor(np.asarray(x), dtype=dtype, device=device)


@pytest.mark.parametrize("name", FAMILIES)
def test_sample_and_log_prob_shapes(name, device):
    d, _ = build(name, draw_params(name), device)
    assert d.batch_shape == (2, 3) and d.event_shape == ()
    assert d.sample().shape == (2, 3)
    assert d.sample((4, 5)).shape == (4, 5, 2, 3)
    x = d.sample(4)
    assert x.shape == (4, 2, 3) and x.dtype == gk.float64 and x.device == d.mean.device
    assert not x.requires_grad
    assert d.log_prob(x).shape == (4, 2, 3)
    if name not in ("Pareto", "GeneralizedPareto"):  # (one row's values may lie outside another row's support)
        assert d.log_prob(x[:, :1, :]).shape == (4, 2, 3)
    assert d.mean.shape == (2, 3) and d.variance.shape == (2, 3) and d.mode.shape == (2, 3)
    assert d.has_rsample == (name in REPARAMETERIZED)
    if d.has_rsample:
        assert d.rsample((4,)).shape == (4, 2, 3)
    else:
        with pytest.raises(NotImplementedError):
            d.rsample()
    assert not d.has_enumerate_support
    with pytest.raises(NotImplementedError):
        d.enumerate_support()


@pytest.mark.parametrize("name", FAMILIES)
def test_expand(name, device):
    p = draw_params(name)
    small = {k: v[0] for k, v in p.items()}
    d, _ = build(name, small, device)
    e = d.expand((4, 3))
    assert type(e) is type(d) and e.batch_shape == (4, 3) and e.event_shape == ()
    x = e.sample((2,))
    assert x.shape == (2, 4, 3)
    assert not np.array_equal(x.numpy()[:, 0], x.numpy()[:, 1])  # independent draws per batch member
    v = _t(support_values(name, p, n=1)[0, 0], device)
    np.testing.assert_allclose(e.log_prob(v).numpy(), np.broadcast_to(d.log_prob(v).numpy(), (4, 3)))
    np.testing.assert_allclose(e.mean.numpy(), np.broadcast_to(d.mean.numpy(), (4, 3)))
    for k in PARAMS[name][0]:
        assert getattr(e, k).shape == (4, 3)
    assert e._validate_args == d._validate_args
    with pytest.raises(gk.ShapeError, match="expand"):
        d.expand((4,))


def test_multivariate_shapes_and_expand(device):
    c = _t([[0.5, 1.0, 2.0], [1.5, 0.7, 3.0]], device)
    d = D.Dirichlet(c)
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    x = d.sample((5,))
    assert x.shape == (5, 2, 3) and d.log_prob(x).shape == (5, 2)
    np.testing.assert_allclose(x.numpy().sum(-1), 1.0, rtol=1e-12)
    assert d.log_prob(x[:, :1]).shape == (5, 2) and d.entropy().shape == (2,) and d.mode.shape == (2, 3)
    e = D.Dirichlet(c[0]).expand((4,))
    assert e.batch_shape == (4,) and e.concentration.shape == (4, 3) and e.sample((2,)).shape == (2, 4, 3)
    with pytest.raises(gk.ShapeError, match="at least one-dimensional"):
        D.Dirichlet(_t(1.0, device))
    lkj = D.LKJCholesky(4, _t([0.5, 2.0], device))
    assert lkj.batch_shape == (2,) and lkj.event_shape == (4, 4)
    s = lkj.sample((3,))
    assert s.shape == (3, 2, 4, 4) and lkj.log_prob(s).shape == (3, 2)
    assert lkj.support.check(s).numpy().all()
    le = D.LKJCholesky(3, _t(1.5, device)).expand((5,))
    assert le.batch_shape == (5,) and le.dim == 3 and le.sample().shape == (5, 3, 3)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    w = D.Wishart(_t([4.0, 5.0], device), scale_tril=_t(np.linalg.cholesky(a @ a.T + np.eye(3)), device))
    assert w.batch_shape == (2,) and w.event_shape == (3, 3)
    ws = w.rsample((4,))
    assert ws.shape == (4, 2, 3, 3) and w.log_prob(ws).shape == (4, 2) and w.entropy().shape == (2,)
    assert w.support.check(ws).numpy().all()
    assert w.mean.shape == (2, 3, 3) and w.variance.shape == (2, 3, 3)
    we = D.Wishart(_t(4.0, device), _t(np.eye(3), device)).expand((3, 2))
    assert we.batch_shape == (3, 2) and we.df.shape == (3, 2) and we.sample().shape == (3, 2, 3, 3)
    assert we.covariance_matrix.shape == (3, 2, 3, 3)


def test_parameter_types_and_dtypes(device):
    assert D.Gamma(1.0, 2.0).concentration.dtype == gk.float32  # numbers: the default float
    assert D.Gamma(1.0, 2.0).batch_shape == ()
    assert D.Beta(np.array([0.5, 1.0]), 2.0).concentration1.dtype == gk.float64
    assert D.Chi2([1.0, 2.0]).df.shape == (2,) and D.Chi2(3).df.dtype == gk.float32
    assert D.StudentT(3.0).loc.item() == 0.0 and D.StudentT(3.0).scale.item() == 1.0
    assert D.Dirichlet([1.0, 2.0]).event_shape == (2,)
    d = D.Gamma(_t([0.5, 2.0], device, gk.float32), _t(1.0, device, gk.float32))
    x = d.rsample((1000,))
    assert x.dtype == gk.float32 and np.isfinite(x.numpy()).all() and (x.numpy() > 0).all()
    assert d.log_prob(x).dtype == gk.float32 and d.entropy().dtype == gk.float32 and d.cdf(x).dtype == gk.float32
    assert d.log_prob(1).dtype == gk.float32
    tiny = D.Gamma(_t(1e-3, device, gk.float32), _t(10.0, device, gk.float32)).rsample((2000,)).numpy()
    assert (tiny >= np.finfo(np.float32).tiny).all()  # (most underflow: raised to the smallest normal number)
    for name in FAMILIES:
        p = {k: v[0] for k, v in draw_params(name).items()}
        d32, _ = build(name, p, device, dtype=gk.float32)
        s = d32.sample((200,))
        assert s.dtype == gk.float32 and np.isfinite(s.numpy()).all(), name
        assert d32.log_prob(s).dtype == gk.float32, name
    with pytest.raises(gk.ArgumentTypeError, match="Gamma"):
        D.Gamma("a", 1.0)
    with pytest.raises(gk.ShapeError, match="Beta"):
        D.Beta(np.ones(2), np.ones(3))


def test_parameters_on_a_device_stay_there(device):
    dev = gk.tensor(0.0, device=device).device
    for d in (D.Gamma(_t([1.0, 2.0], device), 1.0), D.InverseGamma(_t([3.0], device), 1.0),
              D.Dirichlet(_t([1.0, 2.0], device)), D.VonMises(_t(0.0, device), 2.0),
              D.LKJCholesky(3, _t(1.0, device)), D.Wishart(_t(3.0, device), _t(np.eye(2), device))):  # fmt: skip
        s = d.sample((2,))
        assert s.device == dev, type(d).__name__
        assert d.log_prob(s).device == dev, type(d).__name__


def test_repr():
    assert repr(D.Gamma(1.0, 2.0)) == "Gamma(concentration: 1.0, rate: 2.0)"
    assert repr(D.Chi2(gk.ones(3))) == "Chi2()"  # (df is computed from the concentration, as in PyTorch)
    assert repr(D.Beta(gk.ones(2), 1.0)) == "Beta(concentration1: (2,), concentration0: (2,))"
    assert repr(D.Dirichlet(gk.ones(3))) == "Dirichlet(concentration: (3,))"
    assert repr(D.Pareto(1.0, 2.0)) == "Pareto(alpha: 2.0, scale: 1.0)"
    assert repr(D.StudentT(3.0)) == "StudentT(df: 3.0, loc: 0.0, scale: 1.0)"
    assert repr(D.InverseGamma(2.0, 1.0)) == "InverseGamma()"
    assert repr(D.LKJCholesky(2, 1.0)) == "LKJCholesky(concentration: 1.0)"
    assert repr(D.Wishart(3.0, gk.eye(2))) == "Wishart(covariance_matrix: (2, 2), df: 3.0)"


BAD = [
    (lambda: D.Gamma(0.0, 1.0), "concentration"), (lambda: D.Gamma(1.0, -1.0), "rate"),
    (lambda: D.Chi2(-2.0), "df"), (lambda: D.Beta(1.0, 0.0), "concentration0"),
    (lambda: D.Dirichlet([1.0, -1.0]), "concentration"), (lambda: D.StudentT(0.0), "df"),
    (lambda: D.StudentT(2.0, 0.0, -1.0), "scale"), (lambda: D.InverseGamma(-1.0, 1.0), "concentration"),
    (lambda: D.FisherSnedecor(1.0, 0.0), "df2"), (lambda: D.Pareto(0.0, 1.0), "scale"),
    (lambda: D.Pareto(1.0, -1.0), "alpha"), (lambda: D.Weibull(1.0, 0.0), "concentration"),
    (lambda: D.Kumaraswamy(-1.0, 1.0), "concentration1"), (lambda: D.VonMises(0.0, -1.0), "concentration"),
    (lambda: D.VonMises(math.nan, 1.0), "loc"), (lambda: D.LKJCholesky(3, 0.0), "concentration"),
    (lambda: D.GeneralizedPareto(0.0, -1.0, 0.1), "scale"),
    (lambda: D.Wishart(3.0, gk.tensor([[1.0, 2.0], [2.0, 1.0]])), "covariance_matrix"),
    (lambda: D.Wishart(3.0, scale_tril=gk.tensor([[1.0, 1.0], [0.0, 1.0]])), "scale_tril"),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(BAD)))
def test_validation_errors_name_the_distribution_and_parameter(case):
    make, param = BAD[case]
    with pytest.raises(gk.InvalidArgumentError, match=f"expected parameter {param} ") as info:
        make()
    assert isinstance(info.value, ValueError)
    assert str(info.value).split(":")[0] in repr(info.value)


def test_value_validation():
    for d, bad in [(D.Gamma(2.0, 1.0), -1.0), (D.Chi2(2.0), -0.5), (D.Beta(2.0, 2.0), 1.5),
                   (D.InverseGamma(2.0, 1.0), 0.0), (D.FisherSnedecor(2.0, 3.0), -1.0), (D.Pareto(2.0, 3.0), 1.5),
                   (D.Weibull(1.0, 2.0), 0.0), (D.Kumaraswamy(2.0, 2.0), -0.1),
                   (D.GeneralizedPareto(0.0, 1.0, -0.5), 2.5), (D.GeneralizedPareto(1.0, 1.0, 0.5), 0.5),
                   (D.StudentT(3.0), math.nan)]:  # fmt: skip
        name = type(d).__name__
        with pytest.raises(gk.InvalidArgumentError, match=f"{name}: expected value argument"):
            d.log_prob(bad)
    with pytest.raises(gk.InvalidArgumentError, match="Gamma"):
        D.Gamma(2.0, 1.0).cdf(-1.0)
    with pytest.raises(gk.InvalidArgumentError, match="Simplex"):
        D.Dirichlet(gk.ones(3)).log_prob(gk.tensor([0.5, 0.6, 0.1]))
    with pytest.raises(gk.ShapeError, match="event_shape"):
        D.Dirichlet(gk.ones(3)).log_prob(gk.tensor([0.5, 0.5]))
    with pytest.raises(gk.InvalidArgumentError, match="CorrCholesky"):
        D.LKJCholesky(2, 1.0).log_prob(gk.tensor([[1.0, 0.0], [0.5, 0.5]]))
    with pytest.raises(gk.InvalidArgumentError, match="PositiveDefinite"):
        D.Wishart(3.0, gk.eye(2)).log_prob(gk.tensor([[1.0, 2.0], [2.0, 1.0]]))
    assert np.isnan(D.Gamma(2.0, 1.0, validate_args=False).log_prob(-1.0).item())


def test_construction_errors():
    with pytest.raises(gk.InvalidArgumentError, match="exactly one"):
        D.Wishart(3.0)
    with pytest.raises(gk.InvalidArgumentError, match="exactly one"):
        D.Wishart(3.0, gk.eye(2), scale_tril=gk.eye(2))
    with pytest.raises(gk.InvalidArgumentError, match="greater than ndim - 1 = 2"):
        D.Wishart(1.5, gk.eye(3))
    with pytest.raises(gk.ShapeError, match="two-dimensional"):
        D.Wishart(3.0, gk.ones(2))
    with pytest.raises(gk.ShapeError, match="square"):
        D.Wishart(3.0, gk.ones((2, 3)))
    with pytest.warns(UserWarning, match="Low df"):
        D.Wishart(2.5, gk.eye(3))
    with pytest.raises(gk.InvalidArgumentError, match="dim"):
        D.LKJCholesky(1, 1.0)
    with pytest.raises(gk.ArgumentTypeError, match="dim"):
        D.LKJCholesky(2.0, 1.0)


def test_what_is_not_implemented():
    for d, methods in [(D.Gamma(2.0, 1.0), ["icdf"]), (D.Beta(2.0, 2.0), ["cdf", "icdf"]),
                       (D.StudentT(3.0), ["cdf", "icdf"]), (D.FisherSnedecor(3.0, 5.0), ["entropy", "cdf"]),
                       (D.VonMises(0.0, 1.0), ["entropy", "cdf", "rsample"]), (D.InverseGamma(3.0, 1.0), ["icdf"]),
                       (D.LKJCholesky(2, 1.0), ["rsample", "entropy", "mean"]),
                       (D.Dirichlet(gk.ones(2)), ["cdf"]), (D.Wishart(3.0, gk.eye(2)), ["cdf"])]:  # fmt: skip
        for m in methods:
            with pytest.raises(D.DistributionNotImplementedError):
                attr = getattr(d, m)
                attr(0.5) if m in ("cdf", "icdf") else attr() if callable(attr) else None


# the moments of the samples (loose, fixed seed); the circular family by its own moments
@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "VonMises"])
def test_sample_moments(name, device):
    p = {k: v[0, :2] for k, v in draw_params(name, 4).items()}
    d, _ = build(name, p, device)
    gk.manual_seed(1)
    x = d.sample((40000,)).numpy()
    np.testing.assert_allclose(x.mean(0), d.mean.numpy(), rtol=0.05, atol=0.03)
    heavy = name in ("StudentT", "InverseGamma", "FisherSnedecor", "Pareto")  # (few moments beyond the second)
    np.testing.assert_allclose(x.var(0), d.variance.numpy(), rtol=0.3 if heavy else 0.1, atol=0.03)
    assert d.support.check(gk.tensor(x, device=device)).numpy().all()


def test_von_mises_samples(device):
    d = D.VonMises(_t([0.5, -3.0, 3.0, 1.0], device), _t([1e-6, 0.7, 50.0, 4.0], device))
    gk.manual_seed(2)
    x = d.sample((40000,)).numpy()
    assert x.shape == (40000, 4) and (x >= -math.pi).all() and (x <= math.pi).all()
    z = np.exp(1j * x).mean(0)
    np.testing.assert_allclose(1 - np.abs(z), d.variance.numpy(), atol=0.01)
    centre = np.angle(z * np.exp(-1j * d.loc.numpy()))  # the circular mean, relative to loc
    assert np.abs(centre[1:]).max() < 0.03
    h = np.histogram(x[:, 0], bins=8, range=(-math.pi, math.pi))[0]  # concentration ~ 0: uniform
    np.testing.assert_allclose(h / 5000, 1.0, atol=0.08)
    f32 = D.VonMises(_t(0.0, device, gk.float32), _t(1e-4, device, gk.float32)).sample((100,))
    assert f32.dtype == gk.float32 and np.isfinite(f32.numpy()).all()


def test_lkj_samples_have_the_marginals(device):
    # every off-diagonal entry r of L L^T has (r + 1)/2 ~ Beta(b, b), b = eta - 1 + dim/2: mean 0, variance
    # 1 / (2b + 1) (PyTorch 2.14's sampler gives the rows below the second less: 0.215 for the first case)
    for dim, eta in ((3, 2.0), (5, 0.7)):
        d = D.LKJCholesky(dim, _t(eta, device))
        gk.manual_seed(3)
        L = d.sample((20000,)).numpy()
        corr = L @ np.swapaxes(L, -1, -2)
        np.testing.assert_allclose(np.diagonal(corr, 0, -2, -1), 1.0, rtol=1e-12)
        rows, cols = np.tril_indices(dim, -1)
        r = corr[:, rows, cols]
        b = eta - 1 + dim / 2
        np.testing.assert_allclose(r.mean(0), 0.0, atol=0.02)
        np.testing.assert_allclose(r.var(0), 1 / (2 * b + 1), rtol=0.05)


def test_wishart_and_dirichlet_sample_moments(device):
    rng = np.random.default_rng(6)
    a = rng.normal(size=(2, 2))
    cov = a @ a.T + np.eye(2)
    w = D.Wishart(_t(5.5, device), _t(cov, device))
    gk.manual_seed(4)
    x = w.sample((20000,)).numpy()
    np.testing.assert_allclose(x.mean(0), w.mean.numpy(), rtol=0.03)
    np.testing.assert_allclose(x.var(0), w.variance.numpy(), rtol=0.1)
    d = D.Dirichlet(_t([0.5, 1.5, 3.0], device))
    y = d.sample((40000,)).numpy()
    np.testing.assert_allclose(y.mean(0), d.mean.numpy(), rtol=0.03)
    np.testing.assert_allclose(y.var(0), d.variance.numpy(), rtol=0.05)


def test_wishart_singular_samples_are_drawn_again(device):
    with pytest.warns(UserWarning, match="Low df"):  # p - 1 < df < p: singular samples are likely
        w = D.Wishart(_t([1.2, 3.0], device), _t(np.eye(2), device))
    draws = iter([np.zeros((3, 2, 2, 2)), np.broadcast_to(np.eye(2), (3, 2, 2, 2)) * 2.0])
    w._bartlett_sampling = lambda shape: _t(next(draws), device)  # a singular draw, then a regular one
    with pytest.warns(UserWarning, match="Singular sample detected"):
        x = w.rsample((3,))
    np.testing.assert_array_equal(x.numpy(), np.broadcast_to(np.eye(2), (3, 2, 2, 2)) * 2.0)
    w._bartlett_sampling = lambda shape: _t(np.zeros((3, 2, 2, 2)), device)  # always singular: returned as is
    with pytest.warns(UserWarning, match="Singular sample detected"):
        assert (w.rsample((3,), max_try_correction=2).numpy() == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a regular Wishart's samples raise no warning (PyTorch's always do)
        D.Wishart(_t(4.0, device), _t(np.eye(2), device)).rsample((50,))


def test_manual_seed_repeats_samples(device):
    dists = [D.Gamma(_t([0.5, 3.0], device), 1.0), D.Beta(_t([0.5, 3.0], device), 2.0),
             D.Dirichlet(_t([0.5, 3.0], device)), D.StudentT(_t([2.5, 4.0], device)),
             D.VonMises(_t(0.0, device), _t([0.5, 3.0], device)), D.LKJCholesky(3, _t(1.5, device)),
             D.Wishart(_t(3.0, device), _t(np.eye(2), device))]  # fmt: skip
    for d in dists:
        gk.manual_seed(5)
        a = d.sample((3,)).numpy()
        gk.manual_seed(5)
        b = d.sample((3,)).numpy()
        c = d.sample((3,)).numpy()
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(b, c)
