"""KL divergences of the gamma family and its neighbours (Gamma/Chi2, Beta, Dirichlet, Pareto, Wishart), among
themselves and with the part-one families (Normal, Uniform, Exponential, Laplace, Gumbel): the pairs
``torch.distributions.kl`` registers, with the same closed forms. Infinite where p's support reaches beyond q's.

Registered when ``gradkit.distributions`` is imported (``register_kl`` here, not in ``kl.py``). Departures
from PyTorch: x log x is taken as 0 at x = 0 (Uniform against Beta, Gamma or Pareto whose interval starts at
0 is finite, where PyTorch's 0 * log 0 gives NaN); the infinite cases are chosen with ``where`` on safe
values, so no NaN reaches the gradient of the finite ones.
"""

from __future__ import annotations

import math

import gradkit.ops as ops
from gradkit.creation import full_like
from gradkit.distributions.beta import Beta
from gradkit.distributions.dirichlet import Dirichlet
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.exponential import Exponential
from gradkit.distributions.gamma import Gamma
from gradkit.distributions.gumbel import Gumbel
from gradkit.distributions.kl import register_kl
from gradkit.distributions.laplace import Laplace
from gradkit.distributions.multivariate_normal import _solve_tril
from gradkit.distributions.normal import Normal
from gradkit.distributions.pareto import Pareto
from gradkit.distributions.uniform import Uniform
from gradkit.distributions.utils import euler_constant as _euler_gamma
from gradkit.distributions.wishart import Wishart, _multigammaln, _mvdigamma
from gradkit.errors import ShapeError
from gradkit.tensor import Tensor

__all__: list[str] = []


def _infinite_like(t: Tensor) -> Tensor:
    return full_like(t, math.inf)


def _x_log_x(x: Tensor) -> Tensor:
    return ops.xlogy(x, x)


def _safe(condition: Tensor, value: Tensor, fill: float) -> Tensor:
    """``value`` with ``fill`` where ``condition`` holds (the cases whose divergence is infinite)."""
    return ops.where(condition, fill, value)


# ------------------------------------------------------------------ the same family
@register_kl(Beta, Beta)
def _kl_beta_beta(p: Beta, q: Beta) -> Tensor:
    sum_p = p.concentration1 + p.concentration0
    sum_q = q.concentration1 + q.concentration0
    t1 = ops.lgamma(q.concentration1) + ops.lgamma(q.concentration0) + ops.lgamma(sum_p)
    t2 = ops.lgamma(p.concentration1) + ops.lgamma(p.concentration0) + ops.lgamma(sum_q)
    t3 = (p.concentration1 - q.concentration1) * ops.digamma(p.concentration1)
    t4 = (p.concentration0 - q.concentration0) * ops.digamma(p.concentration0)
    t5 = (sum_q - sum_p) * ops.digamma(sum_p)
    return t1 - t2 + t3 + t4 + t5


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p: Dirichlet, q: Dirichlet) -> Tensor:
    sum_p = ops.sum(p.concentration, axis=-1)
    sum_q = ops.sum(q.concentration, axis=-1)
    t1 = ops.lgamma(sum_p) - ops.lgamma(sum_q)
    t2 = ops.sum(ops.lgamma(p.concentration) - ops.lgamma(q.concentration), axis=-1)
    t3 = p.concentration - q.concentration
    t4 = ops.digamma(p.concentration) - ops.expand_dims(ops.digamma(sum_p), -1)
    return t1 - t2 + ops.sum(t3 * t4, axis=-1)


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p: Gamma, q: Gamma) -> Tensor:
    t1 = q.concentration * ops.log(p.rate / q.rate)
    t2 = ops.lgamma(q.concentration) - ops.lgamma(p.concentration)
    t3 = (p.concentration - q.concentration) * ops.digamma(p.concentration)
    t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4


@register_kl(Wishart, Wishart)
def _kl_wishart_wishart(p: Wishart, q: Wishart) -> Tensor:
    """(nu_p/2) (tr(S) - k) - (nu_q/2) log det S + log Gamma_k(nu_q/2) - log Gamma_k(nu_p/2)
    + ((nu_p - nu_q)/2) psi_k(nu_p/2), with S = Sigma_q^-1 Sigma_p and psi_k the multivariate digamma. (PyTorch
    takes the exponential families' Bregman form, which sums its second term over the batch when there is one.)"""
    if p.event_shape != q.event_shape:
        raise ShapeError(f"kl_divergence: KL-divergence between two Wisharts with different event shapes "
                         f"{p.event_shape} and {q.event_shape} cannot be computed")  # fmt: skip
    k = p.event_shape[-1]
    lp, lq = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    trace = ops.sum(ops.square(_solve_tril(lq, lp)), axis=(-2, -1))
    log_det = 2 * (ops.sum(ops.log(ops.diagonal(lp, 0, -2, -1)), axis=-1)
                   - ops.sum(ops.log(ops.diagonal(lq, 0, -2, -1)), axis=-1))  # fmt: skip
    nu_p, nu_q = p.df, q.df
    return (nu_p / 2 * (trace - k) - nu_q / 2 * log_det + _multigammaln(nu_q / 2, k) - _multigammaln(nu_p / 2, k)
            + (nu_p - nu_q) / 2 * _mvdigamma(nu_p / 2, k))  # fmt: skip


@register_kl(Pareto, Pareto)
def _kl_pareto_pareto(p: Pareto, q: Pareto) -> Tensor:
    outside = p.scale < q.scale  # p's support starts below q's
    scale_ratio = p.scale / q.scale
    alpha_ratio = q.alpha / p.alpha
    result = q.alpha * ops.log(scale_ratio) - ops.log(alpha_ratio) + alpha_ratio - 1
    return ops.where(outside, math.inf, result)


# ------------------------------------------------------------------ p from the gamma family
@register_kl(Beta, Pareto)
def _kl_beta_infinity(p: Beta, q: Distribution) -> Tensor:
    return _infinite_like(p.concentration1)


@register_kl(Beta, Exponential)
def _kl_beta_exponential(p: Beta, q: Exponential) -> Tensor:
    return -p.entropy() - ops.log(q.rate) + q.rate * (p.concentration1 / (p.concentration1 + p.concentration0))


@register_kl(Beta, Gamma)
def _kl_beta_gamma(p: Beta, q: Gamma) -> Tensor:
    t1 = -p.entropy()
    t2 = ops.lgamma(q.concentration) - q.concentration * ops.log(q.rate)
    t3 = (q.concentration - 1) * (ops.digamma(p.concentration1) - ops.digamma(p.concentration1 + p.concentration0))
    t4 = q.rate * p.concentration1 / (p.concentration1 + p.concentration0)
    return t1 + t2 - t3 + t4


@register_kl(Beta, Normal)
def _kl_beta_normal(p: Beta, q: Normal) -> Tensor:
    total = p.concentration1 + p.concentration0
    e_beta = p.concentration1 / total
    var_normal = ops.square(q.scale)
    t1 = -p.entropy()
    t2 = 0.5 * ops.log(var_normal * 2 * math.pi)
    t3 = (e_beta * (1 - e_beta) / (total + 1) + ops.square(e_beta)) * 0.5
    t4 = q.loc * e_beta
    t5 = ops.square(q.loc) * 0.5
    return t1 + t2 + (t3 - t4 + t5) / var_normal


@register_kl(Beta, Uniform)
def _kl_beta_uniform(p: Beta, q: Uniform) -> Tensor:
    result = -p.entropy() + ops.log(q.high - q.low)
    return ops.where((q.low > 0) | (q.high < 1), math.inf, result)


@register_kl(Gamma, Beta)
@register_kl(Gamma, Pareto)
@register_kl(Gamma, Uniform)
def _kl_gamma_infinity(p: Gamma, q: Distribution) -> Tensor:
    return _infinite_like(p.concentration)


@register_kl(Gamma, Exponential)
def _kl_gamma_exponential(p: Gamma, q: Exponential) -> Tensor:
    return -p.entropy() - ops.log(q.rate) + q.rate * p.concentration / p.rate


@register_kl(Gamma, Gumbel)
def _kl_gamma_gumbel(p: Gamma, q: Gumbel) -> Tensor:
    c = p.concentration
    beta_scale_prod = p.rate * q.scale
    loc_scale_ratio = q.loc / q.scale
    t1 = (c - 1) * ops.digamma(c) - ops.lgamma(c) - c
    t2 = ops.log(beta_scale_prod) + c / beta_scale_prod
    t3 = ops.exp(loc_scale_ratio) * ops.power(1 + ops.reciprocal(beta_scale_prod), -c) - loc_scale_ratio
    return t1 + t2 + t3


@register_kl(Gamma, Normal)
def _kl_gamma_normal(p: Gamma, q: Normal) -> Tensor:
    c = p.concentration
    var_normal = ops.square(q.scale)
    beta_sqr = ops.square(p.rate)
    t1 = 0.5 * ops.log(beta_sqr * var_normal * 2 * math.pi) - c - ops.lgamma(c)
    t2 = 0.5 * (ops.square(c) + c) / beta_sqr
    t3 = q.loc * c / p.rate
    t4 = 0.5 * ops.square(q.loc)
    return t1 + (c - 1) * ops.digamma(c) + (t2 - t3 + t4) / var_normal


@register_kl(Pareto, Beta)
@register_kl(Pareto, Uniform)
def _kl_pareto_infinity(p: Pareto, q: Distribution) -> Tensor:
    return _infinite_like(p.scale)


@register_kl(Pareto, Exponential)
def _kl_pareto_exponential(p: Pareto, q: Exponential) -> Tensor:
    infinite = p.alpha <= 1  # p has no mean
    alpha = _safe(infinite, p.alpha, 2.0)
    scale_rate_prod = p.scale * q.rate
    t1 = ops.log(alpha / scale_rate_prod)
    t2 = ops.reciprocal(alpha)
    t3 = alpha * scale_rate_prod / (alpha - 1)
    return ops.where(infinite, math.inf, t1 - t2 + t3 - 1)


@register_kl(Pareto, Gamma)
def _kl_pareto_gamma(p: Pareto, q: Gamma) -> Tensor:
    infinite = p.alpha <= 1
    alpha = _safe(infinite, p.alpha, 2.0)
    common_term = ops.log(p.scale) + ops.reciprocal(alpha)
    t1 = ops.log(alpha) - common_term
    t2 = ops.lgamma(q.concentration) - q.concentration * ops.log(q.rate)
    t3 = (1 - q.concentration) * common_term
    t4 = q.rate * alpha * p.scale / (alpha - 1)
    return ops.where(infinite, math.inf, t1 + t2 + t3 + t4 - 1)


@register_kl(Pareto, Normal)
def _kl_pareto_normal(p: Pareto, q: Normal) -> Tensor:
    infinite = p.alpha <= 2  # p has no variance
    alpha = _safe(infinite, p.alpha, 3.0)
    var_normal = 2 * ops.square(q.scale)
    common_term = p.scale / (alpha - 1)
    t1 = ops.log(math.sqrt(2 * math.pi) * q.scale * alpha / p.scale)
    t2 = ops.reciprocal(alpha)
    t3 = alpha * ops.square(common_term) / (alpha - 2)
    t4 = ops.square(alpha * common_term - q.loc)
    return ops.where(infinite, math.inf, t1 - t2 + (t3 + t4) / var_normal - 1)


# ------------------------------------------------------------------ p from part one, q from the gamma family
@register_kl(Exponential, Beta)
@register_kl(Exponential, Pareto)
def _kl_exponential_infinity(p: Exponential, q: Distribution) -> Tensor:
    return _infinite_like(p.rate)


@register_kl(Exponential, Gamma)
def _kl_exponential_gamma(p: Exponential, q: Gamma) -> Tensor:
    ratio = q.rate / p.rate
    t1 = -q.concentration * ops.log(ratio)
    return t1 + ratio + ops.lgamma(q.concentration) + q.concentration * _euler_gamma - (1 + _euler_gamma)


@register_kl(Gumbel, Beta)
@register_kl(Gumbel, Gamma)
@register_kl(Gumbel, Pareto)
def _kl_gumbel_infinity(p: Gumbel, q: Distribution) -> Tensor:
    return _infinite_like(p.loc)


@register_kl(Laplace, Beta)
@register_kl(Laplace, Gamma)
@register_kl(Laplace, Pareto)
def _kl_laplace_infinity(p: Laplace, q: Distribution) -> Tensor:
    return _infinite_like(p.loc)


@register_kl(Normal, Beta)
@register_kl(Normal, Gamma)
@register_kl(Normal, Pareto)
def _kl_normal_infinity(p: Normal, q: Distribution) -> Tensor:
    return _infinite_like(p.loc)


@register_kl(Uniform, Beta)
def _kl_uniform_beta(p: Uniform, q: Beta) -> Tensor:
    outside = (p.high > 1) | (p.low < 0)
    low = _safe(outside, p.low, 0.25)
    high = _safe(outside, p.high, 0.75)
    common_term = high - low
    t1 = ops.log(common_term)
    t2 = (q.concentration1 - 1) * (_x_log_x(high) - _x_log_x(low) - common_term) / common_term
    t3 = (q.concentration0 - 1) * (_x_log_x(1 - high) - _x_log_x(1 - low) + common_term) / common_term
    t4 = ops.lgamma(q.concentration1) + ops.lgamma(q.concentration0) - ops.lgamma(q.concentration1 + q.concentration0)
    return ops.where(outside, math.inf, t3 + t4 - t1 - t2)


@register_kl(Uniform, Gamma)
def _kl_uniform_gamma(p: Uniform, q: Gamma) -> Tensor:
    outside = p.low < 0
    low = _safe(outside, p.low, 0.25)
    high = _safe(outside, p.high, 0.75)
    common_term = high - low
    t1 = ops.log(common_term)
    t2 = ops.lgamma(q.concentration) - q.concentration * ops.log(q.rate)
    t3 = (1 - q.concentration) * (_x_log_x(high) - _x_log_x(low) - common_term) / common_term
    t4 = q.rate * (high + low) / 2
    return ops.where(outside, math.inf, -t1 + t2 + t3 + t4)


@register_kl(Uniform, Pareto)
def _kl_uniform_pareto(p: Uniform, q: Pareto) -> Tensor:
    outside = p.low < q.scale
    low = ops.where(outside, q.scale, p.low)
    high = ops.where(outside, q.scale + 1, p.high)
    support_uniform = high - low
    t1 = ops.log(q.alpha * ops.power(q.scale, q.alpha) * support_uniform)
    t2 = (_x_log_x(high) - _x_log_x(low) - support_uniform) / support_uniform
    return ops.where(outside, math.inf, t2 * (q.alpha + 1) - t1)
