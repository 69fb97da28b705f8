"""gk.distributions' shapes (batch/event/sample, broadcasting of parameters and values, expand), parameter
conversion (numbers, arrays, lists, dtypes, devices), repr, validation errors, sample moments and the seeded
generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dist_cases import FAMILIES, PARAMS, build, draw_params, support_values

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
    assert d.sample(4).shape == (4, 2, 3)
    x = d.rsample((4,))
    assert x.shape == (4, 2, 3) and x.dtype == gk.float64 and x.device == d.mean.device
    assert d.log_prob(x).shape == (4, 2, 3)
    if name != "Uniform":  # (one row's values may lie outside the other row's interval)
        assert d.log_prob(x[:, :1, :]).shape == (4, 2, 3)  # a value broadcast against the batch
    assert d.entropy().shape == (2, 3) and d.mean.shape == (2, 3) and d.variance.shape == (2, 3)
    assert d.has_rsample


@pytest.mark.parametrize("name", FAMILIES)
def test_expand(name, device):
    p = draw_params(name)
    small = {k: v[0] for k, v in p.items()}
    d, _ = build(name, small, device)
    e = d.expand((4, 3))
    assert type(e) is type(d) and e.batch_shape == (4, 3) and e.event_shape == ()
    assert e.sample((2,)).shape == (2, 4, 3)
    v = _t(support_values(name, p, n=1)[0, 0], device)
    np.testing.assert_allclose(e.log_prob(v).numpy(), np.broadcast_to(d.log_prob(v).numpy(), (4, 3)))
    np.testing.assert_allclose(e.entropy().numpy(), np.broadcast_to(d.entropy().numpy(), (4, 3)))
    for k in PARAMS[name][0]:
        assert getattr(e, k).shape == (4, 3)
    assert e._validate_args == d._validate_args
    with pytest.raises(gk.ShapeError, match="expand"):
        d.expand((4,))


def test_expand_the_compound_distributions(device):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 2))
    mvn = D.MultivariateNormal(_t([0.0, 1.0], device), covariance_matrix=_t(a @ a.T + np.eye(2), device))
    e = mvn.expand((3,))
    assert e.batch_shape == (3,) and e.event_shape == (2,) and e.covariance_matrix.shape == (3, 2, 2)
    assert e.scale_tril.shape == (3, 2, 2) and e.loc.shape == (3, 2) and e.sample((5,)).shape == (5, 3, 2)
    v = _t([0.5, 0.5], device)
    np.testing.assert_allclose(e.log_prob(v).numpy(), [mvn.log_prob(v).item()] * 3)
    low = D.LowRankMultivariateNormal(_t([0.0, 1.0], device), _t([[1.0], [0.5]], device), _t([1.0, 2.0], device))
    le = low.expand((3,))
    assert le.batch_shape == (3,) and le.cov_factor.shape == (3, 2, 1) and le.variance.shape == (3, 2)
    ind = D.Independent(D.Normal(_t([0.0, 1.0], device), _t(1.0, device)), 1)
    ie = ind.expand((4,))
    assert ie.batch_shape == (4,) and ie.event_shape == (2,) and ie.base_dist.batch_shape == (4, 2)
    ln = D.LogisticNormal(_t([0.0, 1.0], device), _t(1.0, device))
    lne = ln.expand((5,))
    assert lne.batch_shape == (5,) and lne.event_shape == (3,) and lne.sample((2,)).shape == (2, 5, 3)


def test_parameters_broadcast_together(device):
    d = D.Normal(_t(np.zeros((2, 1)), device), _t(np.ones(3), device))
    assert d.batch_shape == (2, 3) and d.loc.shape == (2, 3) and d.scale.shape == (2, 3)
    assert D.Uniform(_t(0.0, device), _t([1.0, 2.0], device)).batch_shape == (2,)
    with pytest.raises(gk.ShapeError, match="Normal"):
        D.Normal(_t(np.zeros(2), device), _t(np.ones(3), device))


def test_parameter_types_and_dtypes():
    assert D.Normal(0.0, 1.0).loc.dtype == gk.float32  # Python numbers: the default float, as gk.tensor
    assert D.Normal(0, 1).scale.dtype == gk.float32
    assert D.Normal(np.zeros(3), 1.0).loc.dtype == gk.float64  # a NumPy array keeps its dtype
    assert D.Normal([0.0, 1.0], 2.0).batch_shape == (2,)
    assert D.Normal(gk.zeros(3), np.float64(1.0)).scale.dtype == gk.float32
    assert D.Normal(gk.zeros(3), gk.ones(3, dtype=gk.float64)).loc.dtype == gk.float64
    assert D.Exponential(gk.tensor([1, 2])).rate.dtype == gk.float32  # integers become floats
    d = D.Normal(0.0, 1.0)
    assert d.log_prob(0.5).dtype == gk.float32 and d.log_prob(np.float64(0.5)).dtype == gk.float32
    assert d.log_prob(gk.tensor([1, 2])).dtype == gk.float32
    assert d.sample().dtype == gk.float32 and d.sample().shape == ()
    with pytest.raises(gk.ArgumentTypeError, match="Normal"):
        D.Normal("a", 1.0)
    with pytest.raises(gk.ArgumentTypeError, match="sample_shape"):
        d.sample((2.5,))
    with pytest.raises(gk.ShapeError, match="sample_shape"):
        d.sample((-1,))


def test_parameters_on_a_device_stay_there(device):
    d = D.Normal(_t([0.0, 1.0], device), 1.0)
    assert d.scale.device == d.loc.device == gk.tensor(0.0, device=device).device
    assert d.sample((3,)).device == d.loc.device
    assert d.log_prob(0.3).device == d.loc.device
    if device != "cpu":
        with pytest.raises(gk.DeviceError, match="Normal"):
            D.Normal(_t(0.0, device), _t(1.0, "cpu"))


def test_repr():
    assert repr(D.Normal(0.0, 1.0)) == "Normal(loc: 0.0, scale: 1.0)"
    assert repr(D.Normal(gk.zeros(3), 1.0)) == "Normal(loc: (3,), scale: (3,))"
    assert repr(D.Uniform(0.0, 2.0)) == "Uniform(low: 0.0, high: 2.0)"
    assert repr(D.LogNormal(0.0, 1.0)) == "LogNormal()"
    assert repr(D.Independent(D.Normal(gk.zeros(3), 1.0), 1)) == "Independent(Normal(loc: (3,), scale: (3,)), 1)"
    mvn = D.MultivariateNormal(gk.zeros(2), gk.eye(2))
    assert repr(mvn) == "MultivariateNormal(loc: (2,), covariance_matrix: (2, 2))"
    assert repr(D.Exponential(gk.ones(1))).startswith("Exponential(rate: tensor([1.]")


def test_validation_errors_name_the_distribution_and_parameter():
    expected = r"Normal: expected parameter scale .* GreaterThan\(lower_bound=0.0\)"
    with pytest.raises(gk.InvalidArgumentError, match=expected):
        D.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="parameter loc"):  # also a ValueError, as PyTorch's
        D.Normal(math.nan, 1.0)
    for make, param in [(lambda: D.Exponential(0.0), "rate"), (lambda: D.Laplace(0.0, 0.0), "scale"),
                        (lambda: D.Cauchy(0.0, -2.0), "scale"), (lambda: D.Gumbel(0.0, -1.0), "scale"),
                        (lambda: D.LogNormal(0.0, -1.0), "scale"), (lambda: D.HalfNormal(-1.0), "scale"),
                        (lambda: D.HalfCauchy(-1.0), "scale"), (lambda: D.LogisticNormal([0.0], [-1.0]), "scale")]:
        with pytest.raises(gk.InvalidArgumentError, match=f"parameter {param} ") as info:
            make()
        assert str(info.value).split(":")[0] in repr(info.value)
    with pytest.raises(gk.InvalidArgumentError, match="Uniform is not defined when low >= high"):
        D.Uniform(1.0, 1.0)
    with pytest.raises(gk.InvalidArgumentError, match="covariance_matrix .* PositiveDefinite"):
        D.MultivariateNormal(gk.zeros(2), gk.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(gk.InvalidArgumentError, match="scale_tril .* LowerCholesky"):
        D.MultivariateNormal(gk.zeros(2), scale_tril=gk.tensor([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(gk.InvalidArgumentError, match="cov_diag"):
        D.LowRankMultivariateNormal(gk.zeros(2), gk.ones(2, 1), gk.tensor([1.0, -1.0]))
    assert D.Normal(0.0, -1.0, validate_args=False).scale.item() == -1.0


def test_value_validation():
    d = D.Exponential(1.0)
    with pytest.raises(gk.InvalidArgumentError, match=r"Exponential: expected value argument .* support "
                                                      r"\(GreaterThanEq\(lower_bound=0.0\)\)"):  # fmt: skip
        d.log_prob(-1.0)
    with pytest.raises(gk.InvalidArgumentError):
        d.cdf(-1.0)
    with pytest.raises(gk.InvalidArgumentError, match="LogNormal"):
        D.LogNormal(0.0, 1.0).log_prob(-1.0)
    with pytest.raises(gk.InvalidArgumentError, match="HalfNormal"):
        D.HalfNormal(1.0).log_prob(-1.0)
    with pytest.raises(gk.InvalidArgumentError, match="simplex|Simplex"):
        D.LogisticNormal([0.0, 0.0], 1.0).log_prob(gk.tensor([0.5, 0.6, 0.1]))
    n = D.Normal(gk.zeros(3), 1.0)
    with pytest.raises(gk.ShapeError, match="not broadcastable"):
        n.log_prob(gk.zeros(2))
    m = D.MultivariateNormal(gk.zeros(3), gk.eye(3))
    with pytest.raises(gk.ShapeError, match="event_shape"):
        m.log_prob(gk.zeros(2))
    assert D.Exponential(1.0, validate_args=False).log_prob(-1.0).item() == pytest.approx(1.0)


def test_set_default_validate_args():
    try:
        D.Distribution.set_default_validate_args(False)
        assert D.Normal(0.0, -1.0).scale.item() == -1.0
        with pytest.raises(gk.InvalidArgumentError):
            D.Normal(0.0, -1.0, validate_args=True)
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(gk.InvalidArgumentError):
        D.Normal(0.0, -1.0)
    with pytest.raises(gk.ArgumentTypeError):
        D.Distribution.set_default_validate_args("yes")


def test_construction_errors():
    with pytest.raises(gk.InvalidArgumentError, match="exactly one"):
        D.MultivariateNormal(gk.zeros(2))
    with pytest.raises(gk.InvalidArgumentError, match="exactly one"):
        D.MultivariateNormal(gk.zeros(2), gk.eye(2), scale_tril=gk.eye(2))
    with pytest.raises(gk.ShapeError, match="loc must be at least one-dimensional"):
        D.MultivariateNormal(gk.tensor(0.0), gk.eye(1))
    with pytest.raises(gk.ShapeError, match="scale_tril must be at least two-dimensional"):
        D.MultivariateNormal(gk.zeros(2), scale_tril=gk.ones(2))
    with pytest.raises(gk.ShapeError, match="2 x 2"):
        D.MultivariateNormal(gk.zeros(2), gk.eye(3))
    with pytest.raises(gk.ShapeError, match="cov_factor"):
        D.LowRankMultivariateNormal(gk.zeros(2), gk.ones(3, 1), gk.ones(2))
    with pytest.raises(gk.InvalidArgumentError, match="reinterpreted_batch_ndims"):
        D.Independent(D.Normal(gk.zeros(3), 1.0), 2)
    with pytest.raises(gk.ArgumentTypeError):
        D.Independent(D.Normal(gk.zeros(3), 1.0), 1.5)
    with pytest.raises(gk.ArgumentTypeError):
        D.TransformedDistribution(D.Normal(0.0, 1.0), [D.ExpTransform(), "exp"])


def test_missing_methods_raise_not_implemented():
    td = D.TransformedDistribution(D.Normal(0.0, 1.0), D.ExpTransform())
    with pytest.raises(NotImplementedError):
        td.entropy()
    with pytest.raises(D.DistributionNotImplementedError):
        td.mean  # noqa: B018
    with pytest.raises(NotImplementedError):
        D.Normal(0.0, 1.0).enumerate_support()
    with pytest.raises(NotImplementedError, match="Cartesian|cartesian"):
        D.Independent(D.Normal(gk.zeros(2), 1.0), 1).enumerate_support()
    assert not D.Normal(0.0, 1.0).has_enumerate_support


@pytest.mark.parametrize("name", [n for n in FAMILIES if n not in ("Cauchy", "HalfCauchy")])
def test_sample_moments(name, device):
    p = {k: v[0, :2] for k, v in draw_params(name, 4).items()}
    d, _ = build(name, p, device)
    gk.manual_seed(1)
    x = d.sample((40000,)).numpy()
    np.testing.assert_allclose(x.mean(0), d.mean.numpy(), rtol=0.05, atol=0.03)
    np.testing.assert_allclose(x.var(0), d.variance.numpy(), rtol=0.1, atol=0.03)
    assert d.support.check(gk.tensor(x, device=device)).numpy().all()


def test_cauchy_samples_by_their_quartiles(device):
    for d in (D.Cauchy(_t(1.0, device), _t(2.0, device)), D.HalfCauchy(_t(2.0, device))):
        gk.manual_seed(2)
        x = d.sample((40000,)).numpy()
        q = np.quantile(x, [0.25, 0.75])
        np.testing.assert_allclose(q, d.icdf(_t([0.25, 0.75], device)).numpy(), rtol=0.05)


def test_multivariate_samples(device):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + np.eye(3)
    d = D.MultivariateNormal(_t([1.0, -1.0, 0.5], device), covariance_matrix=_t(cov, device))
    gk.manual_seed(0)
    x = d.sample((40000,)).numpy()
    np.testing.assert_allclose(x.mean(0), [1.0, -1.0, 0.5], atol=0.05)
    np.testing.assert_allclose(np.cov(x.T), cov, rtol=0.05, atol=0.05)
    w, dg = rng.normal(size=(3, 1)), np.array([0.5, 1.0, 1.5])
    low = D.LowRankMultivariateNormal(_t([0.0, 0.0, 0.0], device), _t(w, device), _t(dg, device))
    y = low.sample((40000,)).numpy()
    np.testing.assert_allclose(np.cov(y.T), w @ w.T + np.diag(dg), rtol=0.05, atol=0.05)
    z = D.LogisticNormal(_t([0.5, -0.5], device), _t(0.3, device)).sample((1000,)).numpy()
    assert z.shape == (1000, 3) and (z > 0).all()
    np.testing.assert_allclose(z.sum(-1), 1.0, rtol=1e-12)


def test_manual_seed_repeats_samples(device):
    d = D.Normal(_t([0.0, 1.0], device), _t([1.0, 2.0], device))
    for dist in (d, D.Gumbel(d.loc, d.scale), D.MultivariateNormal(d.loc, scale_tril=gk.diag(d.scale))):
        gk.manual_seed(5)
        a = dist.rsample((3,)).numpy()
        gk.manual_seed(5)
        b = dist.rsample((3,)).numpy()
        c = dist.rsample((3,)).numpy()
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(b, c)


def test_float32_parameters_keep_float32(device):
    d = D.Gumbel(_t([0.0, 1.0], device, gk.float32), _t([1.0, 2.0], device, gk.float32))
    gk.manual_seed(0)
    x = d.rsample((1000,))
    assert x.dtype == gk.float32 and np.isfinite(x.numpy()).all()
    assert d.log_prob(x).dtype == gk.float32 and d.entropy().dtype == gk.float32
    assert np.isfinite(D.Laplace(d.loc, d.scale).rsample((1000,)).numpy()).all()
    assert np.isfinite(D.Exponential(d.scale).rsample((1000,)).numpy()).all()


class _Rayleigh(D.Distribution):
    """A family written the way the docs describe (what a new family needs from the base class)."""

    arg_constraints = {"scale": D.constraints.positive}
    support = D.constraints.nonnegative
    has_rsample = True

    def __init__(self, scale, validate_args=None):
        (self.scale,) = D.utils.broadcast_all(scale, name="_Rayleigh")
        super().__init__(self.scale.shape, validate_args=validate_args)

    def rsample(self, sample_shape=()):
        u = D.utils._standard_uniform(self._extended_shape(sample_shape), self.scale)
        return self.scale * gk.sqrt(-2 * gk.log1p(-u))

    def log_prob(self, value):
        value = self._value(value)
        return gk.log(value) - 2 * gk.log(self.scale) - value**2 / (2 * self.scale**2)


def test_a_new_family_gets_validation_expand_and_repr_from_the_base(device):
    d = _Rayleigh(_t([1.0, 2.0], device))
    assert repr(d) == "_Rayleigh(scale: (2,))"
    e = d.expand((3, 2))
    assert type(e) is _Rayleigh and e.scale.shape == (3, 2) and e.sample((4,)).shape == (4, 3, 2)
    np.testing.assert_allclose(e.log_prob(1.5).numpy()[0], d.log_prob(1.5).numpy())
    with pytest.raises(gk.InvalidArgumentError, match="_Rayleigh: expected parameter scale"):
        _Rayleigh(_t([-1.0], device))
    with pytest.raises(gk.InvalidArgumentError, match="support"):
        d.log_prob(-1.0)
    assert d.sample().requires_grad is False
    with pytest.raises(NotImplementedError):
        d.entropy()
    with pytest.raises(NotImplementedError, match="mode"):
        d.mode  # noqa: B018


def test_lazy_properties_are_computed_once_and_keep_their_graph():
    tril = gk.tensor([[1.0, 0.0], [0.5, 2.0]], dtype=gk.float64, requires_grad=True)
    d = D.MultivariateNormal(gk.zeros(2, dtype=gk.float64), scale_tril=tril)
    assert "covariance_matrix" not in d.__dict__
    with gk.no_grad():
        cov = d.covariance_matrix
    assert cov.requires_grad and d.covariance_matrix is cov
    cov.sum().backward()
    assert tril.grad is not None
