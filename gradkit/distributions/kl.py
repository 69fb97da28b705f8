"""``kl_divergence(p, q)`` and ``register_kl``: KL(p || q) by the most specific registered pair of families
(``torch.distributions.kl``).

Each registered function takes two distributions and returns a tensor of the broadcast batch shape. The
lookup is by the types of p and q: among the registered pairs (P, Q) with ``type(p)`` a subclass of P and
``type(q)`` of Q, the most specific one (compared first on P, then on Q) is used; when ordering on Q first would
choose another function, a ``RuntimeWarning`` says so (register the more specific pair to settle it). No
match raises ``DistributionNotImplementedError`` (a NotImplementedError).
"""

from __future__ import annotations

import math
import warnings
from functools import total_ordering
from typing import Any

import gradkit.ops as ops
from gradkit.autograd.api import grad
from gradkit.creation import full_like
from gradkit.distributions.cauchy import Cauchy
from gradkit.distributions.distribution import Distribution, DistributionNotImplementedError
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.exponential import Exponential
from gradkit.distributions.gumbel import Gumbel
from gradkit.distributions.half_normal import HalfNormal
from gradkit.distributions.independent import Independent
from gradkit.distributions.laplace import Laplace
from gradkit.distributions.lowrank_multivariate_normal import (
    LowRankMultivariateNormal,
    _batch_lowrank_logdet,
    _batch_lowrank_mahalanobis,
)
from gradkit.distributions.multivariate_normal import (
    MultivariateNormal,
    _batch_mahalanobis,
    _batch_trace_xxt,
    _half_log_det,
    _solve_tril,
)
from gradkit.distributions.normal import Normal
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.uniform import Uniform
from gradkit.distributions.utils import _sum_rightmost, diag_embed
from gradkit.distributions.utils import euler_constant as _euler_gamma
from gradkit.errors import ArgumentTypeError, ShapeError
from gradkit.tensor import Tensor

__all__ = ["kl_divergence", "register_kl"]

_KL_REGISTRY: dict[tuple[type, type], Any] = {}  # the registered pairs
_KL_MEMOIZE: dict[tuple[type, type], Any] = {}  # lookups done, by the exact pair of types


def register_kl(type_p: type, type_q: type) -> Any:
    """Decorator registering ``fn(p, q)`` as KL(p || q) for distributions of types ``type_p``, ``type_q``
    (and their subclasses, unless a more specific pair is registered)."""
    for name, t in (("type_p", type_p), ("type_q", type_q)):
        if not isinstance(t, type) or not issubclass(t, Distribution):
            raise ArgumentTypeError(f"register_kl: expected {name} to be a Distribution subclass, got {t!r}")

    def decorator(fn: Any) -> Any:
        _KL_REGISTRY[type_p, type_q] = fn
        _KL_MEMOIZE.clear()  # the most specific match may have changed
        return fn

    return decorator


@total_ordering
class _Match:
    __slots__ = ("types",)

    def __init__(self, *types: type) -> None:
        self.types = types

    def __eq__(self, other: Any) -> bool:
        return self.types == other.types

    def __le__(self, other: Any) -> bool:
        for x, y in zip(self.types, other.types, strict=True):
            if not issubclass(x, y):
                return False
            if x is not y:
                break
        return True

    __hash__ = None  # type: ignore[assignment]


def _dispatch_kl(type_p: type, type_q: type) -> Any:
    """The function of the most specific registered pair matching (type_p, type_q), or NotImplemented."""
    matches = [(p, q) for p, q in _KL_REGISTRY if issubclass(type_p, p) and issubclass(type_q, q)]
    if not matches:
        return NotImplemented
    left_p, left_q = min(_Match(*m) for m in matches).types
    right_q, right_p = min(_Match(*reversed(m)) for m in matches).types
    left_fun = _KL_REGISTRY[left_p, left_q]
    right_fun = _KL_REGISTRY[right_p, right_q]
    if left_fun is not right_fun:
        warnings.warn(f"Ambiguous kl_divergence({type_p.__name__}, {type_q.__name__}). Please register_kl("
                      f"{left_p.__name__}, {right_q.__name__})", RuntimeWarning, stacklevel=3)  # fmt: skip
    return left_fun


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q) = E_p[log p(x) - log q(x)], a tensor of the batch shape (differentiable in both
    distributions' parameters)."""
    for name, d in (("p", p), ("q", q)):
        if not isinstance(d, Distribution):
            raise ArgumentTypeError(f"kl_divergence: {name} must be a Distribution, got {type(d).__name__}")
    try:
        fun = _KL_MEMOIZE[type(p), type(q)]
    except KeyError:
        fun = _dispatch_kl(type(p), type(q))
        _KL_MEMOIZE[type(p), type(q)] = fun
    if fun is NotImplemented:
        raise DistributionNotImplementedError(
            f"No KL(p || q) is implemented for p type {type(p).__name__} and q type {type(q).__name__}"
        )
    return fun(p, q)


def _infinite_like(t: Tensor) -> Tensor:
    return full_like(t, math.inf)


def _inf_where(condition: Tensor, result: Tensor) -> Tensor:
    return ops.where(condition, math.inf, result)


# ------------------------------------------------------------------ the same family
@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    var_ratio = ops.square(p.scale / q.scale)
    t1 = ops.square((p.loc - q.loc) / q.scale)
    return 0.5 * (var_ratio + t1 - 1 - ops.log(var_ratio))


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p: Uniform, q: Uniform) -> Tensor:
    result = ops.log((q.high - q.low) / (p.high - p.low))
    return _inf_where((q.low > p.low) | (q.high < p.high), result)


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p: Exponential, q: Exponential) -> Tensor:
    rate_ratio = q.rate / p.rate
    return -ops.log(rate_ratio) + rate_ratio - 1


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p: Laplace, q: Laplace) -> Tensor:
    scale_ratio = p.scale / q.scale
    loc_abs_diff = ops.abs(p.loc - q.loc)
    return -ops.log(scale_ratio) + loc_abs_diff / q.scale + scale_ratio * ops.exp(-loc_abs_diff / p.scale) - 1


@register_kl(Cauchy, Cauchy)
def _kl_cauchy_cauchy(p: Cauchy, q: Cauchy) -> Tensor:
    t1 = ops.log(ops.square(p.scale + q.scale) + ops.square(p.loc - q.loc))
    return t1 - ops.log(4 * p.scale * q.scale)


@register_kl(Gumbel, Gumbel)
def _kl_gumbel_gumbel(p: Gumbel, q: Gumbel) -> Tensor:
    ct1 = p.scale / q.scale
    ct2 = q.loc / q.scale
    ct3 = p.loc / q.scale
    t1 = -ops.log(ct1) - ct2 + ct3
    t2 = ct1 * _euler_gamma
    t3 = ops.exp(ct2 + ops.lgamma(1 + ct1) - ct3)
    return t1 + t2 + t3 - (1 + _euler_gamma)


@register_kl(HalfNormal, HalfNormal)
def _kl_halfnormal_halfnormal(p: HalfNormal, q: HalfNormal) -> Tensor:
    return _kl_normal_normal(p.base_dist, q.base_dist)


def _same_event_shape(p: Distribution, q: Distribution, what: str) -> None:
    if p.event_shape != q.event_shape:
        raise ShapeError(f"kl_divergence: KL-divergence between two {what} with different event shapes "
                         f"{p.event_shape} and {q.event_shape} cannot be computed")  # fmt: skip


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p: MultivariateNormal, q: MultivariateNormal) -> Tensor:
    _same_event_shape(p, q, "Multivariate Normals")
    half_term1 = _half_log_det(q._unbroadcasted_scale_tril) - _half_log_det(p._unbroadcasted_scale_tril)
    term2 = _batch_trace_xxt(_solve_tril(q._unbroadcasted_scale_tril, p._unbroadcasted_scale_tril))
    term3 = _batch_mahalanobis(q._unbroadcasted_scale_tril, q.loc - p.loc)
    return half_term1 + 0.5 * (term2 + term3 - p.event_shape[0])


def _lowrank_a(q: LowRankMultivariateNormal) -> Tensor:
    """A = C^{-1/2} W^T D^{-1} of q, so that inv(cov_q) = inv(D) - A^T A."""
    W, D = q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag  # noqa: N806
    return _solve_tril(q._capacitance_tril, ops.swapaxes(W, -1, -2) / ops.expand_dims(D, -2))


def _lowrank_logdet(d: LowRankMultivariateNormal) -> Tensor:
    return _batch_lowrank_logdet(d._unbroadcasted_cov_factor, d._unbroadcasted_cov_diag, d._capacitance_tril)


def _lowrank_mahalanobis(q: LowRankMultivariateNormal, x: Tensor) -> Tensor:
    return _batch_lowrank_mahalanobis(q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag, x,
                                      q._capacitance_tril)  # fmt: skip


@register_kl(LowRankMultivariateNormal, LowRankMultivariateNormal)
def _kl_lowrank_lowrank(p: LowRankMultivariateNormal, q: LowRankMultivariateNormal) -> Tensor:
    _same_event_shape(p, q, "Low Rank Multivariate Normals")
    term1 = _lowrank_logdet(q) - _lowrank_logdet(p)
    term3 = _lowrank_mahalanobis(q, q.loc - p.loc)
    A = _lowrank_a(q)  # noqa: N806
    pW, pD = p._unbroadcasted_cov_factor, p._unbroadcasted_cov_diag  # noqa: N806
    qD = q._unbroadcasted_cov_diag  # noqa: N806
    term21 = ops.sum(pD / qD, axis=-1)
    term22 = _batch_trace_xxt(pW * ops.expand_dims(ops.rsqrt(qD), -1))
    term23 = _batch_trace_xxt(A * ops.expand_dims(ops.sqrt(pD), -2))
    term24 = _batch_trace_xxt(ops.matmul(A, pW))
    return 0.5 * (term1 + term21 + term22 - term23 - term24 + term3 - p.event_shape[0])


@register_kl(MultivariateNormal, LowRankMultivariateNormal)
def _kl_mvn_lowrank(p: MultivariateNormal, q: LowRankMultivariateNormal) -> Tensor:
    _same_event_shape(p, q, "(Low Rank) Multivariate Normals")
    pL = p._unbroadcasted_scale_tril  # noqa: N806
    term1 = _lowrank_logdet(q) - 2 * _half_log_det(pL)
    term3 = _lowrank_mahalanobis(q, q.loc - p.loc)
    A = _lowrank_a(q)  # noqa: N806
    term21 = _batch_trace_xxt(pL * ops.expand_dims(ops.rsqrt(q._unbroadcasted_cov_diag), -1))
    term22 = _batch_trace_xxt(ops.matmul(A, pL))
    return 0.5 * (term1 + term21 - term22 + term3 - p.event_shape[0])


@register_kl(LowRankMultivariateNormal, MultivariateNormal)
def _kl_lowrank_mvn(p: LowRankMultivariateNormal, q: MultivariateNormal) -> Tensor:
    _same_event_shape(p, q, "(Low Rank) Multivariate Normals")
    qL = q._unbroadcasted_scale_tril  # noqa: N806
    term1 = 2 * _half_log_det(qL) - _lowrank_logdet(p)
    term3 = _batch_mahalanobis(qL, q.loc - p.loc)
    term21 = _batch_trace_xxt(_solve_tril(qL, p._unbroadcasted_cov_factor))
    term22 = _batch_trace_xxt(_solve_tril(qL, diag_embed(ops.sqrt(p._unbroadcasted_cov_diag))))
    return 0.5 * (term1 + term21 + term22 + term3 - p.event_shape[0])


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise DistributionNotImplementedError(
            "No KL(p || q) is implemented between Independent distributions of different "
            f"reinterpreted_batch_ndims ({p.reinterpreted_batch_ndims} and {q.reinterpreted_batch_ndims})"
        )
    return _sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)


@register_kl(TransformedDistribution, TransformedDistribution)
def _kl_transformed_transformed(p: TransformedDistribution, q: TransformedDistribution) -> Tensor:
    if p.transforms != q.transforms:
        raise DistributionNotImplementedError("No KL(p || q) is implemented between TransformedDistributions "
                                              "with different transforms")  # fmt: skip
    if p.event_shape != q.event_shape:
        raise DistributionNotImplementedError("No KL(p || q) is implemented between TransformedDistributions "
                                              "with different event shapes")  # fmt: skip
    return kl_divergence(p.base_dist, q.base_dist)


@register_kl(ExponentialFamily, ExponentialFamily)
def _kl_expfamily_expfamily(p: ExponentialFamily, q: ExponentialFamily) -> Tensor:
    """The Bregman divergence of the log normaliser F (members of one family only):
    F(θq) - F(θp) - sum_i <θq_i - θp_i, dF/dθp_i>, each inner product summed over its own parameter's event
    axes, those beyond the batch shape (Wishart's -precision/2 has two, its (df - p - 1)/2 none; PyTorch sums
    every term over len(event_shape) axes, which fails or sums a batch-shaped parameter over the batch).
    Differentiable in both distributions' parameters (PyTorch detaches p's, so none of its gradient reaches them)."""
    if type(p) is not type(q):
        raise DistributionNotImplementedError("The cross KL-divergence between different exponential families "
                                              "cannot be computed using Bregman divergences")  # fmt: skip
    p_nparams = [_differentiable(t) for t in p._natural_params]
    q_nparams = q._natural_params
    lg_normal = p._log_normalizer(*p_nparams)
    gradients = grad(ops.sum(lg_normal), p_nparams, create_graph=True)
    result = q._log_normalizer(*q_nparams) - lg_normal
    batch = len(_broadcast_shapes(tuple(p.batch_shape), tuple(q.batch_shape)))
    event = len(q.event_shape)
    for pnp, qnp, g in zip(p_nparams, q_nparams, gradients, strict=True):
        term = (qnp - pnp) * g
        result = result - _sum_rightmost(term, min(event, max(0, term.ndim - batch)))
    return result


def _differentiable(t: Tensor) -> Tensor:
    """A natural parameter as an input the log normaliser can be differentiated in: itself when it already
    carries a graph (so that the divergence stays differentiable in the parameters it came from), else a
    detached copy that requires a gradient."""
    return t if t.requires_grad else t.detach().requires_grad_()


def _broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    return tuple(y if x == 1 else x for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------ different families
@register_kl(Exponential, Uniform)
def _kl_exponential_infinity(p: Exponential, q: Distribution) -> Tensor:
    return _infinite_like(p.rate)


@register_kl(Exponential, Gumbel)
def _kl_exponential_gumbel(p: Exponential, q: Gumbel) -> Tensor:
    scale_rate_prod = p.rate * q.scale
    loc_scale_ratio = q.loc / q.scale
    t1 = ops.log(scale_rate_prod) - 1
    t2 = ops.exp(loc_scale_ratio) * scale_rate_prod / (scale_rate_prod + 1)
    t3 = ops.reciprocal(scale_rate_prod)
    return t1 - loc_scale_ratio + t2 + t3


@register_kl(Exponential, Normal)
def _kl_exponential_normal(p: Exponential, q: Normal) -> Tensor:
    var_normal = ops.square(q.scale)
    rate_sqr = ops.square(p.rate)
    t1 = 0.5 * ops.log(rate_sqr * var_normal * 2 * math.pi)
    t2 = ops.reciprocal(rate_sqr)
    t3 = q.loc / p.rate
    t4 = ops.square(q.loc) * 0.5
    return t1 - 1 + (t2 - t3 + t4) / var_normal


@register_kl(Gumbel, Exponential)
@register_kl(Gumbel, Uniform)
def _kl_gumbel_infinity(p: Gumbel, q: Distribution) -> Tensor:
    return _infinite_like(p.loc)


@register_kl(Gumbel, Normal)
def _kl_gumbel_normal(p: Gumbel, q: Normal) -> Tensor:
    param_ratio = p.scale / q.scale
    t1 = ops.log(param_ratio / math.sqrt(2 * math.pi))
    t2 = ops.square(math.pi * param_ratio * 0.5) / 3
    t3 = ops.square((p.loc + p.scale * _euler_gamma - q.loc) / q.scale) * 0.5
    return -t1 + t2 + t3 - (_euler_gamma + 1)


@register_kl(Laplace, Exponential)
@register_kl(Laplace, Uniform)
def _kl_laplace_infinity(p: Laplace, q: Distribution) -> Tensor:
    return _infinite_like(p.loc)


@register_kl(Laplace, Normal)
def _kl_laplace_normal(p: Laplace, q: Normal) -> Tensor:
    var_normal = ops.square(q.scale)
    scale_sqr_var_ratio = ops.square(p.scale) / var_normal
    t1 = 0.5 * ops.log(2 * scale_sqr_var_ratio / math.pi)
    t2 = 0.5 * ops.square(p.loc)
    t3 = p.loc * q.loc
    t4 = 0.5 * ops.square(q.loc)
    return -t1 + scale_sqr_var_ratio + (t2 - t3 + t4) / var_normal - 1


@register_kl(Normal, Exponential)
@register_kl(Normal, Uniform)
def _kl_normal_infinity(p: Normal, q: Distribution) -> Tensor:
    return _infinite_like(p.loc)


@register_kl(Normal, Gumbel)
def _kl_normal_gumbel(p: Normal, q: Gumbel) -> Tensor:
    mean_scale_ratio = p.loc / q.scale
    var_scale_sqr_ratio = ops.square(p.scale / q.scale)
    loc_scale_ratio = q.loc / q.scale
    t1 = ops.log(var_scale_sqr_ratio) * 0.5
    t2 = mean_scale_ratio - loc_scale_ratio
    t3 = ops.exp(-mean_scale_ratio + 0.5 * var_scale_sqr_ratio + loc_scale_ratio)
    return -t1 + t2 + t3 - (0.5 * (1 + math.log(2 * math.pi)))


@register_kl(Normal, Laplace)
def _kl_normal_laplace(p: Normal, q: Laplace) -> Tensor:
    loc_diff = p.loc - q.loc
    scale_ratio = p.scale / q.scale
    loc_diff_scale_ratio = loc_diff / p.scale
    t1 = ops.log(scale_ratio)
    t2 = math.sqrt(2 / math.pi) * p.scale * ops.exp(-0.5 * ops.square(loc_diff_scale_ratio))
    t3 = loc_diff * ops.erf(math.sqrt(0.5) * loc_diff_scale_ratio)
    return -t1 + (t2 + t3) / q.scale - (0.5 * (1 + math.log(0.5 * math.pi)))


@register_kl(Uniform, Exponential)
def _kl_uniform_exponential(p: Uniform, q: Exponential) -> Tensor:
    result = q.rate * (p.high + p.low) / 2 - ops.log((p.high - p.low) * q.rate)
    return _inf_where(p.low < 0, result)


@register_kl(Uniform, Gumbel)
def _kl_uniform_gumbel(p: Uniform, q: Gumbel) -> Tensor:
    common_term = q.scale / (p.high - p.low)
    high_loc_diff = (p.high - q.loc) / q.scale
    low_loc_diff = (p.low - q.loc) / q.scale
    t1 = ops.log(common_term) + 0.5 * (high_loc_diff + low_loc_diff)
    t2 = common_term * (ops.exp(-high_loc_diff) - ops.exp(-low_loc_diff))
    return t1 - t2


@register_kl(Uniform, Normal)
def _kl_uniform_normal(p: Uniform, q: Normal) -> Tensor:
    common_term = p.high - p.low
    t1 = ops.log(math.sqrt(math.pi * 2) * q.scale / common_term)
    t2 = ops.square(common_term) / 12
    t3 = ops.square((p.high + p.low - 2 * q.loc) / 2)
    return t1 + 0.5 * (t2 + t3) / ops.square(q.scale)
