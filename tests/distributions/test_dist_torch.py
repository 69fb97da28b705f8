"""gk.distributions against torch.distributions on the same random parameters (float64): log_prob, cdf, icdf,
entropy, mean, variance of every family, the KL divergence of every pair of families (and which pairs have
none), the multivariate families, and the transforms' values and log |det J|."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from dist_cases import FAMILIES, SHAPE, build, draw_params, support_values

import gradkit as gk
import gradkit.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions


def _torch_dist(name, params):
    return getattr(TD, name)(**{k: torch.tensor(v) for k, v in params.items()})


def _t(x):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device="cpu")  # beside PyTorch's CPU tensors


def _close(ours, theirs, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", FAMILIES)
def test_univariate_families_match_torch(name):
    p = draw_params(name, 11)
    ours, _ = build(name, p)
    theirs = _torch_dist(name, p)
    v = support_values(name, p, seed=12)
    q = np.random.default_rng(13).uniform(0.05, 0.95, (3,) + SHAPE)
    _close(ours.log_prob(_t(v)), theirs.log_prob(torch.tensor(v)))
    _close(ours.cdf(_t(v)), theirs.cdf(torch.tensor(v)))
    _close(ours.icdf(_t(q)), theirs.icdf(torch.tensor(q)), rtol=1e-9)
    _close(ours.entropy(), theirs.entropy())
    for attr in ("mean", "mode", "variance", "stddev"):
        _close(getattr(ours, attr), getattr(theirs, attr))
    assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
    assert repr(ours).split("(")[0] == repr(theirs).split("(")[0]
    assert ours.has_rsample == theirs.has_rsample
    assert repr(ours.support) == repr(theirs.support) or name == "Uniform"


def test_kl_of_every_pair_matches_torch():
    for a, b in itertools.product(FAMILIES, FAMILIES):
        pa, pb = draw_params(a, 21), draw_params(b, 22)
        try:
            expected = TD.kl_divergence(_torch_dist(a, pa), _torch_dist(b, pb)).numpy()
        except NotImplementedError:
            expected = None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if expected is None:
                with pytest.raises(NotImplementedError):
                    D.kl_divergence(build(a, pa)[0], build(b, pb)[0])
                continue
            got = D.kl_divergence(build(a, pa)[0], build(b, pb)[0]).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=f"KL({a} || {b})")


def _mvn_params(seed, batch=(), n=3):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=batch + (n, n))
    return rng.normal(size=batch + (n,)), a @ np.swapaxes(a, -1, -2) + np.eye(n)


@pytest.mark.parametrize("form", ["covariance_matrix", "precision_matrix", "scale_tril"])
def test_multivariate_normal_matches_torch(form):
    loc, cov = _mvn_params(0, (2,))
    mat = {"covariance_matrix": cov, "precision_matrix": np.linalg.inv(cov), "scale_tril": np.linalg.cholesky(cov)}
    ours = D.MultivariateNormal(_t(loc), **{form: _t(mat[form])})
    theirs = TD.MultivariateNormal(torch.tensor(loc), **{form: torch.tensor(mat[form])})
    x = np.random.default_rng(1).normal(size=(4, 2, 3))
    _close(ours.log_prob(_t(x)), theirs.log_prob(torch.tensor(x)))
    _close(ours.entropy(), theirs.entropy())
    for attr in ("covariance_matrix", "precision_matrix", "scale_tril", "variance", "mean"):
        _close(getattr(ours, attr), getattr(theirs, attr), rtol=1e-9)
    loc2, cov2 = _mvn_params(3)
    _close(D.kl_divergence(ours, D.MultivariateNormal(_t(loc2), _t(cov2))),
           TD.kl_divergence(theirs, TD.MultivariateNormal(torch.tensor(loc2), torch.tensor(cov2))))  # fmt: skip
    as_torch = repr(ours).replace("(2, 3)", "torch.Size([2, 3])").replace("(2, 3, 3)", "torch.Size([2, 3, 3])")
    assert as_torch == repr(theirs)


def test_lowrank_multivariate_normal_matches_torch():
    rng = np.random.default_rng(5)
    loc, w, d = rng.normal(size=(2, 4)), rng.normal(size=(4, 2)), rng.uniform(0.5, 1.5, (2, 4))
    ours = D.LowRankMultivariateNormal(_t(loc), _t(w), _t(d))
    theirs = TD.LowRankMultivariateNormal(torch.tensor(loc), torch.tensor(w), torch.tensor(d))
    x = rng.normal(size=(3, 2, 4))
    _close(ours.log_prob(_t(x)), theirs.log_prob(torch.tensor(x)))
    _close(ours.entropy(), theirs.entropy())
    for attr in ("covariance_matrix", "precision_matrix", "scale_tril", "variance"):
        _close(getattr(ours, attr), getattr(theirs, attr), rtol=1e-9)
    loc2, cov2 = _mvn_params(6, (2,), n=4)
    full = D.MultivariateNormal(_t(loc2), _t(cov2))
    tfull = TD.MultivariateNormal(torch.tensor(loc2), torch.tensor(cov2))
    _close(D.kl_divergence(ours, full), TD.kl_divergence(theirs, tfull))
    _close(D.kl_divergence(full, ours), TD.kl_divergence(tfull, theirs))
    other = D.LowRankMultivariateNormal(_t(loc2), _t(w * 0.5), _t(d + 0.3))
    tother = TD.LowRankMultivariateNormal(torch.tensor(loc2), torch.tensor(w * 0.5), torch.tensor(d + 0.3))
    _close(D.kl_divergence(ours, other), TD.kl_divergence(theirs, tother))


def test_logistic_normal_and_independent_match_torch():
    rng = np.random.default_rng(7)
    loc, scale = rng.normal(size=(2, 3)), rng.uniform(0.5, 1.5, (2, 3))
    ours = D.LogisticNormal(_t(loc), _t(scale))
    theirs = TD.LogisticNormal(torch.tensor(loc), torch.tensor(scale))
    x = theirs.sample((4,))
    _close(ours.log_prob(_t(x.numpy())), theirs.log_prob(x))
    assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
    ind = D.Independent(D.Normal(_t(loc), _t(scale)), 1)
    tind = TD.Independent(TD.Normal(torch.tensor(loc), torch.tensor(scale)), 1)
    v = rng.normal(size=(5, 2, 3))
    _close(ind.log_prob(_t(v)), tind.log_prob(torch.tensor(v)))
    _close(ind.entropy(), tind.entropy())
    other = D.Independent(D.Normal(_t(loc + 1), _t(scale * 2)), 1)
    tother = TD.Independent(TD.Normal(torch.tensor(loc + 1), torch.tensor(scale * 2)), 1)
    _close(D.kl_divergence(ind, other), TD.kl_divergence(tind, tother))


TRANSFORMS = [
    ("ExpTransform", (), (3, 2)), ("SigmoidTransform", (), (3, 2)), ("TanhTransform", (), (3, 2)),
    ("SoftplusTransform", (), (3, 2)), ("AffineTransform", (0.5, -2.0), (3, 2)),
    ("StickBreakingTransform", (), (3, 2)), ("CorrCholeskyTransform", (), (2, 6)),
]


@pytest.mark.parametrize(("name", "args", "shape"), TRANSFORMS, ids=[t[0] for t in TRANSFORMS])
def test_transforms_match_torch(name, args, shape):
    x = np.random.default_rng(9).normal(size=shape)
    ours, theirs = getattr(D, name)(*args), getattr(TD.transforms, name)(*args)
    y, ty = ours(_t(x)), theirs(torch.tensor(x))
    _close(y, ty)
    _close(ours.log_abs_det_jacobian(_t(x), y), theirs.log_abs_det_jacobian(torch.tensor(x), ty))
    _close(ours.inv(y), theirs.inv(ty), rtol=1e-8, atol=1e-10)
    assert ours.forward_shape(shape) == tuple(theirs.forward_shape(torch.Size(shape)))
    assert repr(ours.codomain) == repr(theirs.codomain) and repr(ours.domain) == repr(theirs.domain)


def test_power_lower_cholesky_and_positive_definite_match_torch():
    x = np.random.default_rng(10).uniform(0.5, 2.0, (3, 3))
    _close(D.PowerTransform(1.5)(_t(x)), TD.transforms.PowerTransform(torch.tensor(1.5))(torch.tensor(x)))
    _close(D.LowerCholeskyTransform()(_t(x)), TD.transforms.LowerCholeskyTransform()(torch.tensor(x)))
    _close(D.PositiveDefiniteTransform()(_t(x)), TD.transforms.PositiveDefiniteTransform()(torch.tensor(x)))
    base = D.LogNormal(_t(0.2), _t(0.9))
    tbase = TD.LogNormal(torch.tensor(0.2, dtype=torch.float64), torch.tensor(0.9, dtype=torch.float64))
    ours = D.TransformedDistribution(base, [D.PowerTransform(_t(2.0)), D.AffineTransform(1.0, -2.0)])
    theirs = TD.TransformedDistribution(tbase, [TD.transforms.PowerTransform(torch.tensor(2.0, dtype=torch.float64)),
                                                TD.transforms.AffineTransform(1.0, -2.0)])  # fmt: skip
    v = np.array([-3.0, -1.5, 0.5])
    _close(ours.log_prob(_t(v)), theirs.log_prob(torch.tensor(v)))
    _close(ours.cdf(_t(v)), theirs.cdf(torch.tensor(v)))


@pytest.mark.parametrize("cname", ["real", "positive", "unit_interval", "simplex", "real_vector", "corr_cholesky"])
def test_biject_to_matches_torch(cname):
    ours, theirs = getattr(D.constraints, cname), getattr(TD.constraints, cname)
    x = np.random.default_rng(2).normal(size=(2, 3))
    _close(D.biject_to(ours)(_t(x)), TD.biject_to(theirs)(torch.tensor(x)))
    _close(D.transform_to(ours)(_t(x)), TD.transform_to(theirs)(torch.tensor(x)))
    assert repr(ours) == repr(theirs)
