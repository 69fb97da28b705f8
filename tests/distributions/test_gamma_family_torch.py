"""The part-two families against torch.distributions on the same random parameters (float64; float32 for
GeneralizedPareto, whose PyTorch version takes no other): log_prob, cdf, icdf, entropy, mean, mode, variance,
supports and shapes; their gradients in the parameters; the reparameterised gamma gradient against
``torch._standard_gamma_grad``; Dirichlet, Wishart and LKJCholesky; and the KL divergence of every pair among
these families and those of part one (the same number, or NotImplementedError from both).

Where PyTorch 2.14 is wrong, the tests say so and check gradkit's value instead: Kumaraswamy's mode (NaN for
every concentration0 > 1), Wishart's KL over a batch (its Bregman form sums a term over the batch)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from dist_cases import FAMILIES as PART_ONE
from dist_cases import build as build_part_one
from dist_cases import draw_params as draw_part_one
from gamma_family_cases import FAMILIES, HAS_CDF, HAS_ENTROPY, HAS_ICDF, SHAPE, build, draw_params, support_values
from gamma_family_cases import torch_dist as _torch_dist

import gradkit as gk
import gradkit.distributions as D
from gradkit.distributions._standard_gamma import _dx_da

torch = pytest.importorskip("torch")
TD = torch.distributions


def _t(x):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device="cpu")  # beside PyTorch's CPU tensors


def _close(ours, theirs, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)


def _torch_dtype(name):
    return torch.float32 if name == "GeneralizedPareto" else torch.float64


@pytest.mark.parametrize("name", FAMILIES)
def test_families_match_torch(name):
    p = draw_params(name, 11)
    f32 = name == "GeneralizedPareto"
    ours, _ = build(name, p, dtype=gk.float32 if f32 else None)
    theirs = _torch_dist(name, p, dtype=_torch_dtype(name))
    rtol, atol = (2e-5, 1e-6) if f32 else (1e-10, 1e-12)
    if name == "VonMises":  # PyTorch's log I0 and I1 are polynomial fits good to ~1e-7
        rtol, atol = 1e-6, 1e-6
    v = support_values(name, p, seed=12)
    q = np.random.default_rng(13).uniform(0.05, 0.95, (3,) + SHAPE)
    dt = np.float32 if f32 else np.float64
    tv, tq = torch.tensor(v.astype(dt)), torch.tensor(q.astype(dt))
    ov = gk.tensor(v.astype(dt), device="cpu")
    oq = gk.tensor(q.astype(dt), device="cpu")
    _close(ours.log_prob(ov), theirs.log_prob(tv), rtol, atol)
    if name in HAS_CDF:
        _close(ours.cdf(ov), theirs.cdf(tv), rtol, atol)
    if name in HAS_ICDF:
        _close(ours.icdf(oq), theirs.icdf(tq), max(rtol, 1e-9), atol)
    if name in HAS_ENTROPY:
        _close(ours.entropy(), theirs.entropy(), rtol, atol)
    for attr in ("mean", "mode", "variance", "stddev"):
        if (name, attr) == ("Kumaraswamy", "mode"):
            assert np.isnan(theirs.mode.numpy()).all()  # PyTorch's formula: NaN for concentration0 > 1
            continue
        _close(getattr(ours, attr), getattr(theirs, attr), rtol, atol)
    assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
    assert ours.has_rsample == theirs.has_rsample
    assert repr(ours.support).split("(")[0] == repr(theirs.support).split("(")[0]
    assert repr(ours).split("(")[0] == repr(theirs).split("(")[0]
    for m in ("cdf", "icdf", "entropy"):  # what PyTorch does not define, nor does gradkit
        defined = getattr(type(theirs), m) is not getattr(TD.Distribution, m)
        assert (getattr(type(ours), m) is not getattr(D.Distribution, m)) == defined or (name, m) in (
            ("InverseGamma", "icdf"), ("Chi2", "icdf"), ("Gamma", "icdf")), (name, m)  # fmt: skip


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "GeneralizedPareto"])
def test_gradients_match_torch(name):
    p = {k: v[0] for k, v in draw_params(name, 5).items()}
    ours, tensors = build(name, p, requires_grad=True)
    tparams = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in p.items()}
    theirs = getattr(TD, name)(**tparams)
    v = support_values(name, {k: v[None] for k, v in p.items()}, seed=6, n=1)[0, 0]
    outs = [(ours.log_prob(_t(v)), theirs.log_prob(torch.tensor(v)))]
    if name in HAS_ENTROPY:
        outs.append((ours.entropy(), theirs.entropy()))
    if name in HAS_CDF and name not in ("Gamma", "Chi2", "InverseGamma"):  # PyTorch's igamma: no slope in a
        outs.append((ours.cdf(_t(v)), theirs.cdf(torch.tensor(v))))
    outs.append((ours.mean, theirs.mean))
    outs.append((ours.variance, theirs.variance))
    for o, t in outs:
        # (retain_graph: a family's derived tensors, Chi2's concentration or Weibull's 1/k, are shared)
        grads = gk.autograd.grad(o.sum(), list(tensors.values()), allow_unused=True, retain_graph=True)
        tgrads = torch.autograd.grad(t.sum(), list(tparams.values()), allow_unused=True, retain_graph=True)
        for g, tg in zip(grads, tgrads, strict=True):
            if tg is None:
                assert g is None or np.all(g.numpy() == 0)
                continue
            tol = 1e-6 if name == "VonMises" else 1e-9
            np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=tol, atol=tol)


def test_standard_gamma_grad_matches_torch():
    rng = np.random.default_rng(0)
    a = np.exp(rng.uniform(np.log(0.05), np.log(5e4), 3000))
    x = rng.standard_gamma(a)
    theirs = torch._standard_gamma_grad(torch.tensor(a), torch.tensor(x)).numpy()
    np.testing.assert_allclose(_dx_da(np, a, x), theirs, rtol=5e-3)  # PyTorch's fitted approximations
    # and through Gamma.rsample: the concentration's gradient is the same function of the same sample
    c = _t([0.4, 3.0, 90.0]).requires_grad_()
    gk.manual_seed(0)
    y = D.Gamma(c, 1.0).rsample((50,))
    y.sum().backward()
    expected = torch._standard_gamma_grad(torch.tensor(c.detach().numpy()).expand(50, 3), torch.tensor(y.numpy()))
    np.testing.assert_allclose(c.grad.numpy(), expected.sum(0).numpy(), rtol=5e-3)


def test_multivariate_families_match_torch():
    c = np.array([[0.7, 1.5, 3.0], [2.0, 2.5, 4.0]])
    ours, theirs = D.Dirichlet(_t(c)), TD.Dirichlet(torch.tensor(c))
    x = np.random.default_rng(0).dirichlet([1.0, 1.0, 1.0], size=(4, 2))
    _close(ours.log_prob(_t(x)), theirs.log_prob(torch.tensor(x)))
    _close(ours.entropy(), theirs.entropy())
    for attr in ("mean", "variance", "mode"):
        _close(getattr(ours, attr), getattr(theirs, attr))
    corner = np.array([[0.5, 0.3, 0.9], [1.0, 0.5, 0.5], [2.0, 3.0, 0.5]])
    np.testing.assert_array_equal(D.Dirichlet(_t(corner)).mode.numpy(), TD.Dirichlet(torch.tensor(corner)).mode.numpy())
    # LKJCholesky: the densities (its samples differ from PyTorch's on purpose: see lkj_cholesky.py)
    eta = np.array([0.5, 2.0])
    lk, tlk = D.LKJCholesky(4, _t(eta)), TD.LKJCholesky(4, torch.tensor(eta))
    gk.manual_seed(0)
    s = lk.sample((3,))
    _close(lk.log_prob(s), tlk.log_prob(torch.tensor(s.numpy())))
    # Wishart, in its three forms
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 3, 3))
    cov = a @ np.swapaxes(a, -1, -2) + np.eye(3)
    df = np.array([3.5, 6.0])
    mats = {"covariance_matrix": cov, "precision_matrix": np.linalg.inv(cov), "scale_tril": np.linalg.cholesky(cov)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns "Singular sample detected." on every sample
        value = TD.Wishart(torch.tensor(df), torch.tensor(cov)).sample((4,))
    for form, mat in mats.items():
        ours = D.Wishart(_t(df), **{form: _t(mat)})
        theirs = TD.Wishart(torch.tensor(df), **{form: torch.tensor(mat)})
        _close(ours.log_prob(_t(value.numpy())), theirs.log_prob(value), rtol=1e-9)
        _close(ours.entropy(), theirs.entropy())
        for attr in ("mean", "mode", "variance", "covariance_matrix", "precision_matrix", "scale_tril"):
            _close(getattr(ours, attr), getattr(theirs, attr), rtol=1e-9)
    # the KL of two Wisharts: PyTorch's Bregman form is right without a batch
    b = rng.normal(size=(3, 3))
    scale2 = b @ b.T + np.eye(3)
    w2, tw2 = D.Wishart(_t(5.0), _t(scale2)), TD.Wishart(torch.tensor(5.0, dtype=torch.float64), torch.tensor(scale2))
    kl = D.kl_divergence(D.Wishart(_t(df), _t(cov)), w2).numpy()
    for i in range(2):
        expected = TD.kl_divergence(TD.Wishart(torch.tensor(df[i]), torch.tensor(cov[i])), tw2).item()
        assert kl[i] == pytest.approx(expected, rel=1e-10)
    d1, d2 = D.Dirichlet(_t(c)), D.Dirichlet(_t([1.0, 2.0, 0.5]))
    _close(D.kl_divergence(d1, d2), TD.kl_divergence(TD.Dirichlet(torch.tensor(c)), TD.Dirichlet(torch.tensor([1.0,
           2.0, 0.5], dtype=torch.float64))))  # fmt: skip


def _pair_member(name, seed):
    if name in PART_ONE:
        p = draw_part_one(name, seed)
        return build_part_one(name, p)[0], getattr(TD, name)(**{k: torch.tensor(v) for k, v in p.items()})
    p = draw_params(name, seed)
    f32 = name == "GeneralizedPareto"
    return build(name, p, dtype=gk.float32 if f32 else None)[0], _torch_dist(name, p, dtype=_torch_dtype(name))


def test_kl_of_every_pair_matches_torch():
    names = FAMILIES + PART_ONE
    implemented = 0
    for a, b in itertools.product(names, names):
        if a in PART_ONE and b in PART_ONE:
            continue  # (part one's own test)
        ours_p, theirs_p = _pair_member(a, 21)
        ours_q, theirs_q = _pair_member(b, 22)
        try:
            expected = TD.kl_divergence(theirs_p, theirs_q).numpy()
        except NotImplementedError:
            expected = None
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no ambiguous dispatch
            if expected is None:
                with pytest.raises(NotImplementedError):
                    D.kl_divergence(ours_p, ours_q)
                continue
            got = D.kl_divergence(ours_p, ours_q).numpy()
        implemented += 1
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=f"KL({a} || {b})")
    assert implemented >= 50
