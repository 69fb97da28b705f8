"""The discrete and relaxed families' shapes (batch/event/sample, expand, broadcasting values), parameter
conversion (numbers, integer counts, dtypes), validation errors, sample moments and frequencies with a fixed
seed, and gk.manual_seed repeating the generator's binomial/poisson/gamma draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from discrete_cases import EVENT_SHAPES, FAMILIES, PARAMS, SHAPE, build, draw_params, support_values, tensor

import gradkit as gk
import gradkit.distributions as D

HAS_RSAMPLE = {"ContinuousBernoulli"}


@pytest.mark.parametrize("name", FAMILIES)
def test_sample_and_log_prob_shapes(name, device):
    d, _ = build(name, draw_params(name), device)
    event = EVENT_SHAPES.get(name, ())
    assert d.batch_shape == SHAPE and d.event_shape == event
    assert d.sample().shape == SHAPE + event
    x = d.sample((4, 5))
    assert x.shape == (4, 5) + SHAPE + event and x.device == d._param_like().device
    assert x.dtype == (gk.int64 if name == "Categorical" else gk.float64)
    assert not x.requires_grad
    assert d.log_prob(x).shape == (4, 5) + SHAPE
    if name != "Binomial":  # (one row's counts may exceed another row's total)
        assert d.log_prob(x[:, :, :1]).shape == (4, 5) + SHAPE  # a value broadcast against the batch
    assert d.support.check(x).numpy().all()
    assert d.mean.shape == SHAPE + event and d.variance.shape == SHAPE + event
    if name not in ("Poisson", "NegativeBinomial", "Binomial"):  # (Binomial: total_count varies here)
        assert d.entropy().shape == SHAPE
    assert d.has_rsample == (name in HAS_RSAMPLE)


@pytest.mark.parametrize("name", FAMILIES)
def test_expand(name, device):
    p = {k: v[0] for k, v in draw_params(name).items()}  # batch (3,)
    d, _ = build(name, p, device)
    e = d.expand((4, 3))
    event = EVENT_SHAPES.get(name, ())
    assert type(e) is type(d) and e.batch_shape == (4, 3) and e.event_shape == event
    assert e.sample((2,)).shape == (2, 4, 3) + event
    v = tensor(support_values(name, draw_params(name), n=1)[0, 0], device)
    np.testing.assert_allclose(e.log_prob(v).numpy(), np.broadcast_to(d.log_prob(v).numpy(), (4, 3)))
    if name not in ("Poisson", "NegativeBinomial", "Binomial"):
        np.testing.assert_allclose(e.entropy().numpy(), np.broadcast_to(d.entropy().numpy(), (4, 3)))
    np.testing.assert_allclose(e.mean.numpy(), np.broadcast_to(d.mean.numpy(), (4, 3) + event))
    for k in PARAMS[name][0]:
        assert getattr(e, k).shape[:2] == (4, 3)
    assert e._validate_args == d._validate_args
    with pytest.raises(gk.ShapeError, match="expand"):
        d.expand((4,))


def test_expand_the_compound_families(device):
    probs = tensor([[0.2, 0.8], [0.5, 0.5]], device)
    m = D.Multinomial(3, probs).expand((4, 2))
    assert m.batch_shape == (4, 2) and m.event_shape == (2,) and m.sample((5,)).shape == (5, 4, 2, 2)
    assert m.total_count == 3 and m.probs.shape == (4, 2, 2)
    r = D.RelaxedBernoulli(tensor(0.5, device), probs[0]).expand((3, 2))
    assert type(r) is D.RelaxedBernoulli and r.batch_shape == (3, 2) and r.rsample((4,)).shape == (4, 3, 2)
    rc = D.RelaxedOneHotCategorical(tensor(0.5, device), probs).expand((3, 2))
    assert rc.batch_shape == (3, 2) and rc.event_shape == (2,) and rc.rsample().shape == (3, 2, 2)
    assert rc.temperature.shape == ()
    mix = D.MixtureSameFamily(D.Categorical(probs[0]), D.Normal(tensor([[0.0, 1.0]], device), tensor(1.0, device)))
    me = mix.expand((5,))
    assert me.batch_shape == (5,) and me.component_distribution.batch_shape == (5, 2)
    assert me.sample((3,)).shape == (3, 5) and me.log_prob(tensor(0.3, device)).shape == (5,)
    st = D.OneHotCategoricalStraightThrough(probs).expand((3, 2))
    assert type(st) is D.OneHotCategoricalStraightThrough and st.rsample().shape == (3, 2, 2)
    lrb = D.LogitRelaxedBernoulli(tensor(0.5, device), logits=tensor([0.1, 0.2], device)).expand((3, 2))
    assert lrb.logits.shape == (3, 2) and lrb.rsample().shape == (3, 2)


def test_parameter_types_and_dtypes():
    assert D.Bernoulli(0.3).probs.dtype == gk.float32 and D.Bernoulli(0.3).batch_shape == ()
    assert D.Bernoulli([0.3, 0.4]).batch_shape == (2,)
    assert D.Bernoulli(np.array([0.3])).probs.dtype == gk.float64
    b = D.Binomial(gk.tensor([3, 4]), gk.tensor([0.5, 0.5]))
    assert b.total_count.dtype == gk.float32 and b.sample().dtype == gk.float32  # counts in the float dtype
    assert D.Binomial(5, probs=0.3).total_count.item() == 5.0
    assert D.Poisson(gk.tensor([1, 2])).rate.dtype == gk.float32
    c = D.Categorical(gk.tensor([1.0, 2.0, 1.0]))
    assert c.sample().dtype == gk.int64 and c.sample().shape == ()
    assert c.log_prob(gk.tensor(1)).dtype == gk.float32 and c.log_prob(1).item() == pytest.approx(math.log(0.5))
    assert D.Categorical([[0.5, 0.5]]).batch_shape == (1,)
    for d in (D.Bernoulli(0.3), D.Geometric(0.3), D.Poisson(2.0), D.Binomial(3, 0.3), D.NegativeBinomial(2.0, 0.3),
              D.ContinuousBernoulli(0.3), D.OneHotCategorical(gk.ones(3)), D.Multinomial(3, gk.ones(3))):
        x = d.sample((5,))
        assert x.dtype == gk.float32, type(d).__name__
        assert d.log_prob(x).dtype == gk.float32
    assert D.RelaxedBernoulli(0.5, 0.3).rsample().dtype == gk.float32
    assert D.RelaxedBernoulli(gk.tensor(0.5, dtype=gk.float64), 0.3).probs.dtype == gk.float64


def test_parameters_on_a_device_stay_there(device):
    here = gk.tensor(0.0, device=device).device
    for d in (D.Binomial(3, tensor([0.2, 0.4], device)), D.Poisson(tensor([1.0], device)),
              D.NegativeBinomial(2.0, tensor([0.3], device)), D.Multinomial(4, tensor([0.3, 0.7], device)),
              D.Categorical(tensor([0.3, 0.7], device)), D.Geometric(tensor([0.3], device))):  # fmt: skip
        assert d.sample((3,)).device == here
        assert d.log_prob(d.sample()).device == here
        assert d.mean.device == here


def test_repr():
    assert repr(D.Bernoulli(gk.zeros(3))) == "Bernoulli(probs: (3,))"
    assert repr(D.Binomial(3, logits=gk.zeros(2))) == "Binomial(total_count: (2,), logits: (2,))"
    assert repr(D.OneHotCategorical(gk.ones(3))) == "OneHotCategorical()"
    assert repr(D.Poisson(2.0)) == "Poisson(rate: 2.0)"
    mix = D.MixtureSameFamily(D.Categorical(gk.ones(2)), D.Normal(gk.zeros(2), 1.0))
    assert repr(mix) == "MixtureSameFamily(\n  Categorical(probs: (2,)),\n  Normal(loc: (2,), scale: (2,)))"
    assert repr(mix.support) == "MixtureSameFamilyConstraint(Real())"


def test_validation_errors():
    for make, param in [(lambda: D.Bernoulli(1.5), "probs"), (lambda: D.Bernoulli(logits=math.nan), "logits"),
                        (lambda: D.Categorical(gk.tensor([-1.0, 2.0])), "probs"),
                        (lambda: D.Binomial(2.5, 0.3), "total_count"), (lambda: D.Binomial(3, -0.1), "probs"),
                        (lambda: D.Poisson(-1.0), "rate"), (lambda: D.NegativeBinomial(-1.0, 0.3), "total_count"),
                        (lambda: D.NegativeBinomial(2.0, 1.0), "probs"), (lambda: D.ContinuousBernoulli(1.5), "probs"),
                        (lambda: D.OneHotCategorical(gk.tensor([-1.0, 2.0])), "probs"),
                        (lambda: D.Multinomial(2, gk.tensor([-1.0, 2.0])), "probs"),
                        (lambda: D.RelaxedBernoulli(0.5, 1.5), "probs"),
                        (lambda: D.RelaxedOneHotCategorical(0.5, gk.tensor([-1.0, 2.0])), "probs"),
                        (lambda: D.LogitRelaxedBernoulli(0.5, -0.5), "probs"),
                        (lambda: D.ExpRelaxedCategorical(0.5, gk.tensor([-1.0, 2.0])), "probs")]:  # fmt: skip
        with pytest.raises(gk.InvalidArgumentError, match=f"parameter {param} ") as info:
            make()
        name = str(info.value).split(":")[0]
        assert name in repr(info.value) and name[0].isupper()
    with pytest.raises(ValueError, match="Geometric: expected parameter probs .* to be positive"):
        D.Geometric(0.0)
    assert D.Geometric(0.0, validate_args=False).probs.item() == 0.0
    for cls in (D.Bernoulli, D.Categorical, D.Geometric, D.OneHotCategorical, D.ContinuousBernoulli):
        with pytest.raises(gk.InvalidArgumentError, match="either `probs` or `logits`"):
            cls()
        with pytest.raises(gk.InvalidArgumentError, match=f"{cls.__name__}: either"):
            cls(gk.ones(2) / 2, gk.zeros(2))
    with pytest.raises(gk.InvalidArgumentError, match="Binomial: either"):
        D.Binomial(3)
    with pytest.raises(gk.ShapeError, match="at least one-dimensional"):
        D.Categorical(gk.tensor(1.0))
    with pytest.raises(NotImplementedError, match="inhomogeneous total_count"):
        D.Multinomial(gk.tensor(3), gk.ones(2))
    with pytest.raises(gk.InvalidArgumentError, match="total_count must be >= 0"):
        D.Multinomial(-1, gk.ones(2))
    with pytest.raises(gk.InvalidArgumentError, match="lims"):
        D.ContinuousBernoulli(0.3, lims=0.5)


def test_mixture_construction_errors():
    normal = D.Normal(gk.zeros((2, 3)), 1.0)
    with pytest.raises(gk.ArgumentTypeError, match="Categorical"):
        D.MixtureSameFamily(D.Bernoulli(gk.ones(3) / 2), normal)
    with pytest.raises(gk.ArgumentTypeError, match="Distribution"):
        D.MixtureSameFamily(D.Categorical(gk.ones(3)), "normal")
    with pytest.raises(gk.ShapeError, match="does not equal"):
        D.MixtureSameFamily(D.Categorical(gk.ones(4)), normal)
    with pytest.raises(gk.ShapeError, match="not compatible"):
        D.MixtureSameFamily(D.Categorical(gk.ones((5, 3))), normal)
    with pytest.raises(gk.ShapeError, match="at least one batch dimension"):
        D.MixtureSameFamily(D.Categorical(gk.ones(1)), D.Normal(0.0, 1.0))


def test_value_validation():
    with pytest.raises(gk.InvalidArgumentError, match=r"Bernoulli: expected value argument .* \(Boolean\(\)\)"):
        D.Bernoulli(0.3).log_prob(0.5)
    with pytest.raises(gk.InvalidArgumentError, match="IntegerInterval"):
        D.Categorical(gk.ones(3)).log_prob(3)
    with pytest.raises(gk.InvalidArgumentError, match="IntegerInterval"):
        D.Binomial(3, 0.5).log_prob(4.0)
    with pytest.raises(gk.InvalidArgumentError, match="IntegerGreaterThan"):
        D.Poisson(1.0).log_prob(1.5)
    with pytest.raises(gk.InvalidArgumentError, match="OneHot"):
        D.OneHotCategorical(gk.ones(3)).log_prob(gk.tensor([1.0, 1.0, 0.0]))
    with pytest.raises(gk.InvalidArgumentError, match="Multinomial"):
        D.Multinomial(3, gk.ones(3)).log_prob(gk.tensor([2.0, 2.0, 0.0]))
    with pytest.raises(gk.InvalidArgumentError, match="ContinuousBernoulli"):
        D.ContinuousBernoulli(0.3).cdf(1.5)
    with pytest.raises(gk.InvalidArgumentError, match="RelaxedBernoulli"):
        D.RelaxedBernoulli(0.5, 0.3).log_prob(1.5)
    with pytest.raises(gk.InvalidArgumentError, match="MixtureSameFamily"):
        D.MixtureSameFamily(D.Categorical(gk.ones(2)), D.Exponential(gk.ones(2))).log_prob(-1.0)
    with pytest.raises(gk.ShapeError, match="event_shape"):
        D.OneHotCategorical(gk.ones(3)).log_prob(gk.tensor([1.0, 0.0]))
    assert D.Bernoulli(0.3, validate_args=False).log_prob(0.5).shape == ()


def test_not_implemented_methods():
    mix = D.MixtureSameFamily(D.Categorical(gk.ones(2)), D.Normal(gk.zeros(2), 1.0))
    for d, method in [(D.Poisson(1.0), "entropy"), (D.NegativeBinomial(2.0, 0.3), "entropy"),
                      (D.Bernoulli(0.3), "cdf"), (D.Geometric(0.3), "enumerate_support"),
                      (D.Categorical(gk.ones(2)), "rsample"), (D.Binomial(gk.tensor([2.0, 3.0]), 0.3), "entropy"),
                      (mix, "rsample")]:  # fmt: skip
        with pytest.raises(D.DistributionNotImplementedError, match=type(d).__name__):
            getattr(d, method)(*([0.5] if method == "cdf" else []))
    assert D.Bernoulli(0.3).has_enumerate_support and not D.Poisson(1.0).has_enumerate_support


def _moments(d, n=20000, seed=1):
    gk.manual_seed(seed)
    x = d.sample((n,)).numpy()
    return x, x.mean(0), x.var(0)


@pytest.mark.parametrize("name", FAMILIES)
def test_sample_moments(name, device):
    p = {k: v[0, :2] for k, v in draw_params(name, 4).items()}
    d, _ = build(name, p, device)
    x, mean, var = _moments(d)
    if name == "Categorical":
        probs = d.probs.numpy()
        freq = np.stack([(x == k).mean(0) for k in range(probs.shape[-1])], -1)
        np.testing.assert_allclose(freq, probs, atol=0.015)
        return
    np.testing.assert_allclose(mean, d.mean.numpy(), rtol=0.05, atol=0.02)
    np.testing.assert_allclose(var, d.variance.numpy(), rtol=0.1, atol=0.02)
    assert d.support.check(gk.tensor(x, device=device)).numpy().all()


def test_compound_sample_moments(device):
    m = D.Multinomial(7, tensor([[0.0, 0.3, 0.7], [0.5, 0.25, 0.25]], device))
    x, mean, var = _moments(m)
    assert (x.sum(-1) == 7).all() and (x[:, 0, 0] == 0).all()
    np.testing.assert_allclose(mean, m.mean.numpy(), rtol=0.03, atol=0.02)
    np.testing.assert_allclose(var, m.variance.numpy(), rtol=0.1, atol=0.02)
    zero = D.Categorical(tensor([0.0, 0.5, 0.0, 0.5, 0.0], device))
    gk.manual_seed(2)
    idx = zero.sample((20000,)).numpy()
    assert set(np.unique(idx)) == {1, 3} and abs((idx == 1).mean() - 0.5) < 0.02
    comp = D.Normal(tensor([[-2.0, 3.0], [0.0, 1.0]], device), tensor([0.5, 1.0], device))
    mix = D.MixtureSameFamily(D.Categorical(tensor([0.3, 0.7], device)), comp)
    x, mean, var = _moments(mix)
    np.testing.assert_allclose(mean, mix.mean.numpy(), atol=0.05)
    np.testing.assert_allclose(var, mix.variance.numpy(), rtol=0.05)
    vec = D.MixtureSameFamily(D.Categorical(tensor([[0.3, 0.7]], device)),
                              D.Independent(D.Normal(tensor([[[-2.0, 2.0], [3.0, 0.0]]], device), 0.1), 1))  # fmt: skip
    x, mean, _ = _moments(vec, 5000)
    assert x.shape == (5000, 1, 2)
    np.testing.assert_allclose(mean, vec.mean.numpy(), atol=0.1)
    assert ((np.abs(x[:, 0] - [-2.0, 2.0]) < 1).all(-1) | (np.abs(x[:, 0] - [3.0, 0.0]) < 1).all(-1)).all()


def test_relaxed_samples(device):
    probs = tensor([0.2, 0.6, 0.9], device)
    rb = D.RelaxedBernoulli(tensor(0.8, device), probs)
    gk.manual_seed(3)
    y = rb.rsample((20000,)).numpy()
    assert ((y > 0) & (y < 1)).all()
    np.testing.assert_allclose((y > 0.5).mean(0), probs.numpy(), atol=0.015)  # P(y > 1/2) = p at any temperature
    rc = D.RelaxedOneHotCategorical(tensor(0.5, device), tensor([0.2, 0.3, 0.5], device))
    z = rc.rsample((20000,)).numpy()
    np.testing.assert_allclose(z.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.bincount(z.argmax(-1), minlength=3) / 20000, [0.2, 0.3, 0.5], atol=0.015)
    cold = D.RelaxedBernoulli(tensor(0.05, device), probs).rsample((1000,)).numpy()
    assert (np.minimum(cold, 1 - cold) < 0.05).mean() > 0.9  # near the vertices when cold
    st = D.OneHotCategoricalStraightThrough(tensor([0.2, 0.8], device))
    s = st.rsample((2000,)).numpy()
    assert set(np.unique(s)) <= {0.0, 1.0} and abs(s[:, 1].mean() - 0.8) < 0.03


def test_manual_seed_repeats_samples(device):
    dists = [D.Binomial(tensor([3.0, 10.0], device), tensor([0.3, 0.6], device)),
             D.Poisson(tensor([0.5, 20.0], device)),
             D.NegativeBinomial(tensor([2.0, 0.7], device), tensor(0.4, device)),
             D.Multinomial(5, tensor([0.2, 0.3, 0.5], device)), D.Categorical(tensor([0.2, 0.3, 0.5], device)),
             D.Bernoulli(tensor([0.3, 0.5], device)), D.Geometric(tensor([0.3, 0.5], device)),
             D.ContinuousBernoulli(tensor([0.3, 0.8], device))]  # fmt: skip
    for d in dists:
        gk.manual_seed(5)
        a = d.sample((50,)).numpy()
        gk.manual_seed(5)
        b = d.sample((50,)).numpy()
        c = d.sample((50,)).numpy()
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(b, c), type(d).__name__


def test_the_generator_draws_have_their_laws(device):
    gk.manual_seed(4)
    big = D.Binomial(tensor([200.0], device), tensor([0.3], device)).sample((20000,)).numpy()
    assert abs(big.mean() - 60) < 0.3 and abs(big.var() - 42) < 2
    assert set(np.unique(D.Binomial(tensor([0.0, 4.0], device), tensor([0.5, 1.0], device)).sample((10,)).numpy()
                         .ravel())) == {0.0, 4.0}  # fmt: skip
    nb = D.NegativeBinomial(tensor([0.0], device), tensor([0.5], device)).sample((10,)).numpy()
    assert (nb == 0).all()
    assert (D.Poisson(tensor([0.0], device)).sample((10,)).numpy() == 0).all()


def test_empty_samples(device):
    for d in (D.Categorical(tensor([0.5, 0.5], device)), D.Binomial(3, tensor([0.5], device)),
              D.Multinomial(3, tensor([0.5, 0.5], device)), D.Poisson(tensor([1.0], device))):  # fmt: skip
        assert d.sample((0,)).shape[0] == 0


def test_a_generator_without_the_draw_says_so(device, monkeypatch):
    d = D.Poisson(tensor([1.0], device))

    class _UniformOnly:  # what a CUDA graph capture puts in place: uniform and normal draws only
        def random(self, *args, **kwargs):
            raise AssertionError("not reached")

    monkeypatch.setattr(d.rate._backend, "rng", _UniformOnly())
    for dist in (d, D.Binomial(3, tensor([0.5], device)), D.NegativeBinomial(2.0, tensor([0.5], device)),
                 D.Multinomial(2, tensor([0.5, 0.5], device))):  # fmt: skip
        with pytest.raises(D.DistributionNotImplementedError, match=f"{type(dist).__name__}: sampling needs"):
            dist.sample()
