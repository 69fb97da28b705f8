"""The discrete and relaxed families of gk.distributions against torch.distributions on the same random
parameters (float64): log_prob, entropy, mean, mode, variance, cdf/icdf, enumerate_support, supports, shapes;
the relaxed and mixture families; and the KL divergence of every pair among these families and the continuous
ones (the same number, or NotImplementedError from both)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from discrete_cases import FAMILIES, SHAPE, build, draw_params, support_values, torch_dist
from dist_cases import FAMILIES as CONTINUOUS
from dist_cases import build as build_continuous
from dist_cases import draw_params as draw_continuous

import gradkit as gk
import gradkit.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions


def _t(x):
    return gk.tensor(np.asarray(x, dtype=np.float64), dtype=gk.float64, device="cpu")  # beside PyTorch's CPU tensors


def _close(ours, theirs, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", FAMILIES)
def test_families_match_torch(name):
    p = draw_params(name, 11)
    ours, _ = build(name, p)
    theirs = torch_dist(name, p)
    v = support_values(name, p, seed=12)
    _close(ours.log_prob(_t(v)), theirs.log_prob(torch.tensor(v)))
    for attr in ("mean", "variance", "stddev", "mode"):
        if name == "ContinuousBernoulli" and attr == "mode":  # neither has one
            for d in (ours, theirs):
                with pytest.raises(NotImplementedError):
                    d.mode  # noqa: B018
            continue
        if name == "Categorical" and attr != "mode":
            assert np.isnan(getattr(ours, attr).numpy()).all() and torch.isnan(getattr(theirs, attr)).all()
            continue
        _close(getattr(ours, attr), getattr(theirs, attr))
    if name not in ("Poisson", "NegativeBinomial", "Binomial"):
        _close(ours.entropy(), theirs.entropy())
    if name == "ContinuousBernoulli":
        q = np.random.default_rng(13).uniform(0.05, 0.95, (3,) + SHAPE)
        _close(ours.cdf(_t(v)), theirs.cdf(torch.tensor(v)))
        _close(ours.icdf(_t(q)), theirs.icdf(torch.tensor(q)))
    if ours.has_enumerate_support and name != "Binomial":
        for expand in (True, False):
            _close(ours.enumerate_support(expand), theirs.enumerate_support(expand))
    assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
    assert ours.has_rsample == theirs.has_rsample and ours.has_enumerate_support == theirs.has_enumerate_support
    assert repr(ours.support) == repr(theirs.support).replace("tensor(", "").replace(", dtype=torch.float64)", "") \
        or name == "Binomial"  # fmt: skip
    assert ours.support.is_discrete == theirs.support.is_discrete
    assert ours.support.event_dim == theirs.support.event_dim


@pytest.mark.parametrize("form", ["probs", "logits"])
def test_logits_forms_match_torch(form):
    rng = np.random.default_rng(5)
    x = rng.uniform(0.1, 0.9, (2, 3))
    if form == "logits":
        x = np.log(x / (1 - x))
    n = np.array([[2.0, 5.0, 3.0], [4.0, 1.0, 6.0]])
    v = np.array([[1.0, 2.0, 0.0], [3.0, 1.0, 5.0]])
    cases = [("Bernoulli", {}, np.minimum(v, 1)), ("Geometric", {}, v),
             ("Binomial", {"total_count": n}, np.minimum(v, n)), ("NegativeBinomial", {"total_count": n}, v),
             ("ContinuousBernoulli", {}, v / 6)]
    for name, args, value in cases:
        ours = getattr(D, name)(**{k: _t(a) for k, a in args.items()}, **{form: _t(x)})
        theirs = getattr(TD, name)(**{k: torch.tensor(a) for k, a in args.items()}, **{form: torch.tensor(x)})
        _close(ours.log_prob(_t(value)), theirs.log_prob(torch.tensor(value)))
        _close(ours.probs, theirs.probs)
        _close(ours.logits, theirs.logits)
        _close(ours.mean, theirs.mean)
        if hasattr(theirs, "param_shape"):
            assert ours.param_shape == tuple(theirs.param_shape)
    cat = rng.normal(size=(2, 4)) if form == "logits" else rng.uniform(0.1, 1.0, (2, 4))
    for name in ("Categorical", "OneHotCategorical"):
        ours, theirs = getattr(D, name)(**{form: _t(cat)}), getattr(TD, name)(**{form: torch.tensor(cat)})
        _close(ours.probs, theirs.probs)
        _close(ours.logits, theirs.logits)
        _close(ours.entropy(), theirs.entropy())
        assert ours.param_shape == tuple(theirs.param_shape)
    ours, theirs = D.Multinomial(6, **{form: _t(cat)}), TD.Multinomial(6, **{form: torch.tensor(cat)})
    counts = np.array([[1.0, 2.0, 0.0, 3.0], [6.0, 0.0, 0.0, 0.0]])
    _close(ours.log_prob(_t(counts)), theirs.log_prob(torch.tensor(counts)))
    _close(ours.mean, theirs.mean)
    _close(ours.variance, theirs.variance)
    # PyTorch computes lgamma(total_count + 1) of an int64 tensor in float32: agreement to ~1e-7 only
    _close(ours.entropy(), theirs.entropy(), rtol=1e-6)


def test_binomial_entropy_and_support_match_torch():
    probs = np.array([[0.1, 0.5, 0.95], [0.3, 0.0, 1.0]])
    ours, theirs = D.Binomial(5, _t(probs)), TD.Binomial(5, torch.tensor(probs))
    _close(ours.entropy(), theirs.entropy())
    for expand in (True, False):
        _close(ours.enumerate_support(expand), theirs.enumerate_support(expand))
    _close(ours.mode, theirs.mode)


def test_relaxed_families_match_torch():
    from torch.distributions.relaxed_bernoulli import LogitRelaxedBernoulli
    from torch.distributions.relaxed_categorical import ExpRelaxedCategorical

    rng = np.random.default_rng(7)
    temp, logits = 0.6, rng.normal(size=(2, 3))
    pairs = [(D.RelaxedBernoulli, TD.RelaxedBernoulli), (D.LogitRelaxedBernoulli, LogitRelaxedBernoulli),
             (D.RelaxedOneHotCategorical, TD.RelaxedOneHotCategorical),
             (D.ExpRelaxedCategorical, ExpRelaxedCategorical)]
    for ours_cls, theirs_cls in pairs:
        for form in ("probs", "logits"):
            x = logits if form == "logits" else 1 / (1 + np.exp(-logits))
            ours = ours_cls(_t(temp), **{form: _t(x)})
            theirs = theirs_cls(torch.tensor(temp, dtype=torch.float64), **{form: torch.tensor(x)})
            value = theirs.sample((4,))
            _close(ours.log_prob(_t(value.numpy())), theirs.log_prob(value), rtol=1e-9)
            _close(ours.probs, theirs.probs)
            _close(ours.logits, theirs.logits)
            assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
            # (PyTorch's LogitRelaxedBernoulli says has_rsample False though its rsample is reparameterised)
            assert ours.has_rsample and (theirs.has_rsample or theirs_cls is LogitRelaxedBernoulli)
            assert repr(ours.support) == repr(theirs.support)


def test_mixture_matches_torch():
    rng = np.random.default_rng(8)
    w, loc, scale = rng.uniform(0.2, 1.0, (2, 3)), rng.normal(size=(2, 3)), rng.uniform(0.5, 1.5, (2, 3))
    ours = D.MixtureSameFamily(D.Categorical(_t(w)), D.Normal(_t(loc), _t(scale)))
    theirs = TD.MixtureSameFamily(TD.Categorical(torch.tensor(w)), TD.Normal(torch.tensor(loc), torch.tensor(scale)))
    x = rng.normal(size=(5, 2))
    _close(ours.log_prob(_t(x)), theirs.log_prob(torch.tensor(x)))
    _close(ours.cdf(_t(x)), theirs.cdf(torch.tensor(x)))
    _close(ours.mean, theirs.mean)
    _close(ours.variance, theirs.variance)
    assert repr(ours.support) == repr(theirs.support)
    comp = D.Independent(D.Normal(_t(rng.normal(size=(2, 3, 2))), _t(1.5)), 1)
    tcomp = TD.Independent(TD.Normal(torch.tensor(comp.base_dist.loc.numpy()), torch.tensor(1.5, dtype=torch.float64)),
                           1)  # fmt: skip
    ours = D.MixtureSameFamily(D.Categorical(_t(w)), comp)
    theirs = TD.MixtureSameFamily(TD.Categorical(torch.tensor(w)), tcomp)
    y = rng.normal(size=(4, 2, 2))
    _close(ours.log_prob(_t(y)), theirs.log_prob(torch.tensor(y)))
    _close(ours.mean, theirs.mean)
    _close(ours.variance, theirs.variance)


def _all_params(name, seed):
    if name in CONTINUOUS:
        return draw_continuous(name, seed), build_continuous
    return draw_params(name, seed), build


def _torch_of(name, params):
    return getattr(TD, name)(**{k: torch.tensor(v) for k, v in params.items()})


def test_kl_of_every_pair_matches_torch():
    names = FAMILIES + CONTINUOUS
    for a, b in itertools.product(names, names):
        pa, build_a = _all_params(a, 21)
        pb, build_b = _all_params(b, 22)
        if a == "Binomial" and b == "Binomial":
            pb = dict(pb, total_count=pa["total_count"])
        if b == "Uniform" and a == "ContinuousBernoulli":
            pb = {"low": pb["low"] - 2.0, "high": pb["high"] + 2.0}  # finite where q holds [0, 1]
        if a == "Uniform" and b == "ContinuousBernoulli":
            pa = {"low": np.full(SHAPE, 0.2), "high": np.full(SHAPE, 0.7)}
        try:
            expected = TD.kl_divergence(_torch_of(a, pa), _torch_of(b, pb)).numpy()
        except NotImplementedError:
            expected = None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if expected is None:
                with pytest.raises(NotImplementedError):
                    D.kl_divergence(build_a(a, pa)[0], build_b(b, pb)[0])
                continue
            got = D.kl_divergence(build_a(a, pa)[0], build_b(b, pb)[0]).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, err_msg=f"KL({a} || {b})")
