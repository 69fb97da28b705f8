"""Gradients of the discrete and relaxed families (log_prob, entropy, mean, variance, cdf/icdf, rsample,
kl_divergence) with respect to their parameters, against central differences in float64 (``gk.gradcheck``).
A reparameterised sample is checked with the generator reseeded inside the function."""

from __future__ import annotations

import numpy as np
import pytest
from discrete_cases import PARAMS, draw_params, support_values, tensor

import gradkit as gk
import gradkit.distributions as D


def _params(name, device, seed=0):
    """The family's parameters (batch (3,)) as float64 tensors, in its argument order."""
    p = draw_params(name, seed)
    return [tensor(p[k][0], device) for k in PARAMS[name][0]], p


def _make(name, *params):
    return getattr(D, name)(*params, validate_args=False)


SMOOTH = ["Bernoulli", "Geometric", "Poisson", "Binomial", "NegativeBinomial", "ContinuousBernoulli", "Categorical",
          "OneHotCategorical"]  # fmt: skip
DIFFERENTIABLE = {"Binomial": [False, True], "NegativeBinomial": [True, True]}  # total_count: a count for Binomial


@pytest.mark.parametrize("name", SMOOTH)
def test_log_prob_and_moment_gradients(name, device):
    params, p = _params(name, device)
    value = tensor(support_values(name, p, n=1)[0, 0], device)
    mask = DIFFERENTIABLE.get(name, [True] * len(params))
    fixed = [t if m else t.detach() for t, m in zip(params, mask, strict=True)]
    wrt = [t for t, m in zip(params, mask, strict=True) if m]

    def rebuild(args):
        it = iter(args)
        return _make(name, *[next(it) if m else t for t, m in zip(fixed, mask, strict=True)])

    assert gk.gradcheck(lambda *a: rebuild(a).log_prob(value), wrt)
    if name != "Categorical":  # (its mean and variance are NaN)
        assert gk.gradcheck(lambda *a: rebuild(a).mean, wrt)
        assert gk.gradcheck(lambda *a: rebuild(a).variance, wrt)
    if name not in ("Poisson", "NegativeBinomial", "Binomial"):
        assert gk.gradcheck(lambda *a: rebuild(a).entropy(), wrt)


@pytest.mark.parametrize("form", ["probs", "logits"])
def test_gradients_through_logits_and_probs(form, device):
    rng = np.random.default_rng(1)
    probs = rng.uniform(0.2, 0.8, 3)
    x = tensor(probs if form == "probs" else np.log(probs / (1 - probs)), device)
    value = tensor([1.0, 0.0, 1.0], device)
    for cls in (D.Bernoulli, D.Geometric, D.ContinuousBernoulli):
        assert gk.gradcheck(lambda t, cls=cls: cls(**{form: t}, validate_args=False).log_prob(value), [x])
        assert gk.gradcheck(lambda t, cls=cls: cls(**{form: t}, validate_args=False).entropy(), [x])
    n = tensor([4.0, 2.0, 5.0], device)
    assert gk.gradcheck(lambda t: D.Binomial(n, **{form: t}, validate_args=False).log_prob(value * 2), [x])
    assert gk.gradcheck(lambda t: D.Binomial(3, **{form: t}, validate_args=False).entropy(), [x])
    assert gk.gradcheck(lambda t: D.NegativeBinomial(n, **{form: t}, validate_args=False).log_prob(value * 3), [x])
    cat = tensor(rng.uniform(0.2, 1.0, (2, 4)), device)
    if form == "logits":
        cat = gk.log(cat)
    idx = gk.tensor([3, 0], device=device)
    counts = tensor([[1.0, 0.0, 2.0, 2.0], [0.0, 5.0, 0.0, 0.0]], device)
    assert gk.gradcheck(lambda t: D.Categorical(**{form: t}, validate_args=False).log_prob(idx), [cat])
    assert gk.gradcheck(lambda t: D.Categorical(**{form: t}, validate_args=False).entropy(), [cat])
    assert gk.gradcheck(lambda t: D.Multinomial(5, **{form: t}, validate_args=False).log_prob(counts), [cat])
    assert gk.gradcheck(lambda t: D.Multinomial(3, **{form: t}, validate_args=False).entropy(), [cat])


def test_bernoulli_gradient_at_one_half(device):
    """At probs = 1/2 the logits are exactly 0: the slope of softplus there is 1/2, not a one-sided 0 or 1."""
    probs = tensor([0.5, 0.5], device, requires_grad=True)
    D.Bernoulli(probs).log_prob(tensor([1.0, 0.0], device)).sum().backward()
    np.testing.assert_allclose(probs.grad.numpy(), [2.0, -2.0], rtol=1e-12)
    logits = tensor([0.0], device, requires_grad=True)
    D.Bernoulli(logits=logits).entropy().sum().backward()
    assert abs(logits.grad.item()) < 1e-15
    value = tensor([1.0, 0.0], device)
    assert gk.gradcheck(lambda t: D.Bernoulli(logits=t).log_prob(value), [tensor([0.0, 0.0], device)])


def test_continuous_bernoulli_gradients(device):
    probs = tensor([0.1, 0.3, 0.4999, 0.65, 0.9], device)  # one inside the Taylor region
    value = tensor([0.2, 0.7, 0.4, 0.55, 0.9], device)
    q = tensor([0.15, 0.5, 0.6, 0.35, 0.8], device)

    def cb(p):
        return D.ContinuousBernoulli(p, validate_args=False)

    assert gk.gradcheck(lambda p, v: cb(p).log_prob(v), [probs, value])
    assert gk.gradcheck(lambda p, v: cb(p).cdf(v), [probs, value])
    assert gk.gradcheck(lambda p, u: cb(p).icdf(u), [probs, q])
    assert gk.gradcheck(lambda p: cb(p).mean, [probs])
    assert gk.gradcheck(lambda p: cb(p).variance, [probs])
    assert gk.gradcheck(lambda p: cb(p).entropy(), [probs])

    def draw(p):
        gk.manual_seed(7)
        return cb(p).rsample((2,))

    assert gk.gradcheck(draw, [probs])


def test_relaxed_gradients(device):
    temp = tensor(0.7, device)
    logits = tensor([-0.5, 0.3, 1.2], device)
    y = tensor([0.2, 0.6, 0.9], device)
    assert gk.gradcheck(lambda t, lg, v: D.RelaxedBernoulli(t, logits=lg).log_prob(v), [temp, logits, y])
    assert gk.gradcheck(lambda t, lg, v: D.LogitRelaxedBernoulli(t, logits=lg).log_prob(v), [temp, logits, y])
    x = tensor([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]], device)
    assert gk.gradcheck(lambda t, lg, v: D.RelaxedOneHotCategorical(t, logits=lg, validate_args=False).log_prob(v),
                        [temp, logits, x])  # fmt: skip
    assert gk.gradcheck(lambda t, lg: D.ExpRelaxedCategorical(t, logits=lg).log_prob(gk.log(x)), [temp, logits])

    def draw(cls):
        def f(t, lg):
            gk.manual_seed(3)
            return cls(t, logits=lg).rsample((2,))

        return f

    for cls in (D.RelaxedBernoulli, D.LogitRelaxedBernoulli, D.RelaxedOneHotCategorical, D.ExpRelaxedCategorical):
        assert gk.gradcheck(draw(cls), [temp, logits])
    probs = tensor([0.2, 0.3, 0.5], device, requires_grad=True)
    d = D.RelaxedBernoulli(temp, probs)
    d.rsample((4,)).sum().backward()
    assert probs.grad is not None and np.isfinite(probs.grad.numpy()).all()


def test_straight_through_gradient(device):
    probs = tensor([0.2, 0.3, 0.5], device, requires_grad=True)
    d = D.OneHotCategoricalStraightThrough(probs)
    gk.manual_seed(0)
    s = d.rsample((5,))
    assert set(np.unique(s.numpy())) <= {0.0, 1.0}
    (s * tensor([1.0, 2.0, 3.0], device)).sum().backward()
    # d/dprobs of sum(probs_normalised * w) * 5 draws: the gradient of the normalised probabilities
    w = np.array([1.0, 2.0, 3.0])
    expected = 5 * (w - (w * probs.numpy()).sum()) / probs.numpy().sum()
    np.testing.assert_allclose(probs.grad.numpy(), expected, rtol=1e-12)


def test_mixture_gradients(device):
    w = tensor([0.3, 0.5, 0.2], device)
    loc = tensor([-1.0, 0.5, 2.0], device)
    scale = tensor([0.7, 1.2, 0.5], device)
    x = tensor([-0.3, 1.1], device)

    def mix(a, b, c):
        return D.MixtureSameFamily(D.Categorical(a, validate_args=False), D.Normal(b, c, validate_args=False))

    assert gk.gradcheck(lambda a, b, c: mix(a, b, c).log_prob(x), [w, loc, scale])
    assert gk.gradcheck(lambda a, b, c: mix(a, b, c).cdf(x), [w, loc, scale])
    assert gk.gradcheck(lambda a, b, c: mix(a, b, c).mean, [w, loc, scale])
    assert gk.gradcheck(lambda a, b, c: mix(a, b, c).variance, [w, loc, scale])


KL_PAIRS = [("Bernoulli", "Bernoulli"), ("Geometric", "Geometric"), ("Poisson", "Poisson"),
            ("ContinuousBernoulli", "ContinuousBernoulli"), ("Categorical", "Categorical"),
            ("OneHotCategorical", "OneHotCategorical"), ("Bernoulli", "Poisson")]  # fmt: skip


@pytest.mark.parametrize(("pname", "qname"), KL_PAIRS)
def test_kl_gradients(pname, qname, device):
    pp, _ = _params(pname, device, seed=1)
    qp, _ = _params(qname, device, seed=2)
    k = len(pp)
    assert gk.gradcheck(lambda *a: D.kl_divergence(_make(pname, *a[:k]), _make(qname, *a[k:])), [*pp, *qp])


def test_cross_family_kl_gradients(device):
    probs = tensor([0.2, 0.45, 0.8], device)
    n = tensor([5.0, 5.0, 5.0], device)
    p2 = tensor([0.3, 0.6, 0.7], device)
    assert gk.gradcheck(lambda a, b: D.kl_divergence(D.Binomial(n, a), D.Binomial(n, b)), [probs, p2])
    cb = lambda t: D.ContinuousBernoulli(t, validate_args=False)  # noqa: E731
    assert gk.gradcheck(lambda a, r: D.kl_divergence(cb(a), D.Exponential(r)), [probs, tensor([0.5, 1.0, 2.0], device)])
    assert gk.gradcheck(lambda a, m, s: D.kl_divergence(cb(a), D.Normal(m, s)),
                        [probs, tensor([0.1, 0.5, -0.2], device), tensor([0.5, 1.0, 2.0], device)])  # fmt: skip
    assert gk.gradcheck(lambda a, lo, hi: D.kl_divergence(cb(a), D.Uniform(lo, hi)),
                        [probs, tensor([-0.5, -0.1, -1.0], device), tensor([1.5, 1.1, 2.0], device)])  # fmt: skip
    assert gk.gradcheck(lambda lo, hi, a: D.kl_divergence(D.Uniform(lo, hi), cb(a)),
                        [tensor([0.1, 0.2, 0.3], device), tensor([0.5, 0.9, 0.6], device), probs])  # fmt: skip
