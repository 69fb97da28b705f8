"""KL divergences of the discrete and continuous-Bernoulli families (``torch.distributions.kl``'s pairs):
registered with :func:`register_kl` when this module is imported (``gradkit.distributions`` imports it).

Same family: Bernoulli, Binomial, Categorical, ContinuousBernoulli, Geometric, OneHotCategorical, Poisson.
Across families: Bernoulli-Poisson; Poisson-Bernoulli and Poisson-Binomial (infinite); ContinuousBernoulli
against Exponential, Normal and Uniform, and Exponential, Gumbel, Laplace, Normal (infinite) and Uniform
against ContinuousBernoulli.
"""

from __future__ import annotations

import math

import gradkit.ops as ops
from gradkit.creation import full_like
from gradkit.distributions._discrete import softplus
from gradkit.distributions.bernoulli import Bernoulli
from gradkit.distributions.beta import Beta
from gradkit.distributions.binomial import Binomial
from gradkit.distributions.categorical import Categorical
from gradkit.distributions.continuous_bernoulli import ContinuousBernoulli
from gradkit.distributions.distribution import Distribution, DistributionNotImplementedError, _checks_allowed
from gradkit.distributions.exponential import Exponential
from gradkit.distributions.gamma import Gamma
from gradkit.distributions.geometric import Geometric
from gradkit.distributions.gumbel import Gumbel
from gradkit.distributions.kl import register_kl
from gradkit.distributions.laplace import Laplace
from gradkit.distributions.normal import Normal
from gradkit.distributions.one_hot_categorical import OneHotCategorical
from gradkit.distributions.pareto import Pareto
from gradkit.distributions.poisson import Poisson
from gradkit.distributions.uniform import Uniform
from gradkit.tensor import Tensor

__all__: list[str] = []


def _infinite_like(t: Tensor) -> Tensor:
    return full_like(t, math.inf)


# ------------------------------------------------------------------ the same family
@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    t1 = p.probs * (softplus(-q.logits) - softplus(-p.logits))
    t1 = ops.where(q.probs == 0, math.inf, t1)
    t1 = ops.where(p.probs == 0, 0.0, t1)
    t2 = (1 - p.probs) * (softplus(q.logits) - softplus(p.logits))
    t2 = ops.where(q.probs == 1, math.inf, t2)
    t2 = ops.where(p.probs == 1, 0.0, t2)
    return t1 + t2


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p: Binomial, q: Binomial) -> Tensor:
    if _checks_allowed(p.total_count) and bool(ops.any(p.total_count < q.total_count).item()):
        raise DistributionNotImplementedError(
            "Binomial: KL between Binomials where q.total_count > p.total_count is not implemented"
        )
    kl = p.total_count * (p.probs * (p.logits - q.logits) + ops.log1p(-p.probs) - ops.log1p(-q.probs))
    return ops.where(p.total_count > q.total_count, math.inf, kl)


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p: Categorical, q: Categorical) -> Tensor:
    t = p.probs * (p.logits - q.logits)
    t = ops.where(q.probs == 0, math.inf, t)
    t = ops.where(p.probs == 0, 0.0, t)
    return ops.sum(t, axis=-1)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehotcategorical_onehotcategorical(p: OneHotCategorical, q: OneHotCategorical) -> Tensor:
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(ContinuousBernoulli, ContinuousBernoulli)
def _kl_continuous_bernoulli_continuous_bernoulli(p: ContinuousBernoulli, q: ContinuousBernoulli) -> Tensor:
    t1 = p.mean * (p.logits - q.logits)
    t2 = p._cont_bern_log_norm() + ops.log1p(-p.probs)
    t3 = -q._cont_bern_log_norm() - ops.log1p(-q.probs)
    return t1 + t2 + t3


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p: Geometric, q: Geometric) -> Tensor:
    return -p.entropy() - ops.log1p(-q.probs) / p.probs - q.logits


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p: Poisson, q: Poisson) -> Tensor:
    return p.rate * (ops.log(p.rate) - ops.log(q.rate)) - (p.rate - q.rate)


# ------------------------------------------------------------------ different families
@register_kl(Bernoulli, Poisson)
def _kl_bernoulli_poisson(p: Bernoulli, q: Poisson) -> Tensor:
    return -p.entropy() - (p.probs * ops.log(q.rate) - q.rate)


@register_kl(Poisson, Bernoulli)
@register_kl(Poisson, Binomial)
def _kl_poisson_infinity(p: Poisson, q: Distribution) -> Tensor:
    return _infinite_like(p.rate)


@register_kl(ContinuousBernoulli, Exponential)
def _kl_continuous_bernoulli_exponential(p: ContinuousBernoulli, q: Exponential) -> Tensor:
    return -p.entropy() - ops.log(q.rate) + q.rate * p.mean


@register_kl(ContinuousBernoulli, Normal)
def _kl_continuous_bernoulli_normal(p: ContinuousBernoulli, q: Normal) -> Tensor:
    t1 = -p.entropy()
    t2 = 0.5 * (math.log(2.0 * math.pi) + ops.square(q.loc / q.scale)) + ops.log(q.scale)
    t3 = (p.variance + ops.square(p.mean) - 2.0 * q.loc * p.mean) / (2.0 * ops.square(q.scale))
    return t1 + t2 + t3


@register_kl(ContinuousBernoulli, Uniform)
def _kl_continuous_bernoulli_uniform(p: ContinuousBernoulli, q: Uniform) -> Tensor:
    """Finite only where q's interval holds (0, 1) strictly inside it (PyTorch's rule)."""
    result = -p.entropy() + ops.log(q.high - q.low)
    return ops.where((q.low >= 0.0) | (q.high <= 1.0), math.inf, result)


@register_kl(Exponential, ContinuousBernoulli)
def _kl_exponential_continuous_bernoulli(p: Exponential, q: ContinuousBernoulli) -> Tensor:
    return _infinite_like(p.rate)


@register_kl(Gumbel, ContinuousBernoulli)
@register_kl(Laplace, ContinuousBernoulli)
@register_kl(Normal, ContinuousBernoulli)
def _kl_real_line_continuous_bernoulli(p: Distribution, q: ContinuousBernoulli) -> Tensor:
    return _infinite_like(p.loc)  # type: ignore[attr-defined]


@register_kl(Uniform, ContinuousBernoulli)
def _kl_uniform_continuous_bernoulli(p: Uniform, q: ContinuousBernoulli) -> Tensor:
    """Infinite where p's interval reaches 0 or 1 (PyTorch's rule)."""
    result = -p.entropy() - p.mean * q.logits - ops.log1p(-q.probs) - q._cont_bern_log_norm()
    return ops.where((p.high >= 1.0) | (p.low <= 0.0), math.inf, result)


# ------------------------------------------------------------------ with the gamma family (PyTorch's pairs)
@register_kl(ContinuousBernoulli, Pareto)
def _kl_continuous_bernoulli_pareto(p: ContinuousBernoulli, q: Pareto) -> Tensor:
    return _infinite_like(p.probs)


@register_kl(Gamma, ContinuousBernoulli)
def _kl_gamma_continuous_bernoulli(p: Gamma, q: ContinuousBernoulli) -> Tensor:
    return _infinite_like(p.concentration)


@register_kl(Pareto, ContinuousBernoulli)
def _kl_pareto_continuous_bernoulli(p: Pareto, q: ContinuousBernoulli) -> Tensor:
    return _infinite_like(p.scale)


@register_kl(Beta, ContinuousBernoulli)
def _kl_beta_continuous_bernoulli(p: Beta, q: ContinuousBernoulli) -> Tensor:
    """Beta lives on [0, 1], as the continuous Bernoulli: finite everywhere."""
    return -p.entropy() - p.mean * q.logits - ops.log1p(-q.probs) - q._cont_bern_log_norm()
