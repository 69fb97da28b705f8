"""``ContinuousBernoulli(probs=None, logits=None, lims=(0.499, 0.501))``: the continuous Bernoulli on [0, 1]
(Loaiza-Ganem and Cunningham, 2019; ``torch.distributions.ContinuousBernoulli``): density
C(p) p^x (1 - p)^(1 - x). Near p = 1/2 (inside ``lims``) the normaliser, moments and CDF are Taylor
expansions, elsewhere closed forms."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions._discrete import BinaryParameter, bce_with_logits, check_lims, probs_or_logits
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.utils import (
    _standard_uniform,
    broadcast_all,
    clamp_probs,
    lazy_property,
    logits_to_probs,
)
from gradkit.tensor import Tensor

__all__ = ["ContinuousBernoulli"]


class ContinuousBernoulli(BinaryParameter, ExponentialFamily):
    """Values in [0, 1], parameterised by ``probs`` (in [0, 1], clamped to [eps, 1 - eps]; not a
    probability) or ``logits`` (real, whose sigmoid is ``probs``). ``rsample`` is the inverse CDF of a
    uniform."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, probs: Any = None, logits: Any = None, lims: Any = (0.499, 0.501),
                 validate_args: bool | None = None) -> None:  # fmt: skip
        key, value = probs_or_logits(probs, logits, "ContinuousBernoulli")
        (param,) = broadcast_all(value, name="ContinuousBernoulli")
        self._lims = check_lims(lims, "ContinuousBernoulli")
        self.__dict__[key] = param
        self._param_name = key
        super().__init__(param.shape, validate_args=validate_args)  # checks the probs given, then clamped
        if key == "probs":
            self.probs = clamp_probs(param)

    @lazy_property
    def probs(self) -> Tensor:  # BinaryParameter's, clamped
        return clamp_probs(logits_to_probs(self.logits, is_binary=True))

    def _outside_unstable_region(self) -> Tensor:
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self) -> Tensor:
        return ops.where(self._outside_unstable_region(), self.probs, self._lims[0])

    def _cont_bern_log_norm(self) -> Tensor:
        """log C(p), the log normalising constant as a function of ``probs``."""
        cut_probs = self._cut_probs()
        below = ops.where(cut_probs <= 0.5, cut_probs, 0.0)
        above = ops.where(cut_probs >= 0.5, cut_probs, 1.0)
        log_norm = ops.log(ops.abs(ops.log1p(-cut_probs) - ops.log(cut_probs))) - ops.where(
            cut_probs <= 0.5, ops.log1p(-2.0 * below), ops.log(2.0 * above - 1.0)
        )
        x = ops.square(self.probs - 0.5)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return ops.where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self) -> Tensor:
        cut_probs = self._cut_probs()
        mus = cut_probs / (2.0 * cut_probs - 1.0) + 1.0 / (ops.log1p(-cut_probs) - ops.log(cut_probs))
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * ops.square(x)) * x
        return ops.where(self._outside_unstable_region(), mus, taylor)

    @property
    def stddev(self) -> Tensor:
        return ops.sqrt(self.variance)

    @property
    def variance(self) -> Tensor:
        cut_probs = self._cut_probs()
        variances = cut_probs * (cut_probs - 1.0) / ops.square(1.0 - 2.0 * cut_probs) + 1.0 / ops.square(
            ops.log1p(-cut_probs) - ops.log(cut_probs)
        )
        x = ops.square(self.probs - 0.5)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return ops.where(self._outside_unstable_region(), variances, taylor)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        u = _standard_uniform(self._extended_shape(sample_shape), self.probs)
        return self.icdf(u)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        return -bce_with_logits(self.logits, value) + self._cont_bern_log_norm()

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value)
        cut_probs = self._cut_probs()
        cdfs = (ops.power(cut_probs, value) * ops.power(1.0 - cut_probs, 1.0 - value) + cut_probs - 1.0) / (
            2.0 * cut_probs - 1.0
        )
        unbounded_cdfs = ops.where(self._outside_unstable_region(), cdfs, value)
        return ops.where(value <= 0.0, 0.0, ops.where(value >= 1.0, 1.0, unbounded_cdfs))

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, validate=False)
        cut_probs = self._cut_probs()
        inverse = (ops.log1p(-cut_probs + value * (2.0 * cut_probs - 1.0)) - ops.log1p(-cut_probs)) / (
            ops.log(cut_probs) - ops.log1p(-cut_probs)
        )
        return ops.where(self._outside_unstable_region(), inverse, value)

    def entropy(self) -> Tensor:
        log_probs0 = ops.log1p(-self.probs)
        log_probs1 = ops.log(self.probs)
        return self.mean * (log_probs0 - log_probs1) - self._cont_bern_log_norm() - log_probs0

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.logits,)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        """log C as a function of the natural parameter (the logits), with PyTorch's unstable region."""
        outside = (x <= self._lims[0] - 0.5) | (x > self._lims[1] - 0.5)
        cut_nat_params = ops.where(outside, x, self._lims[0] - 0.5)
        log_norm = ops.log(ops.abs(ops.expm1(cut_nat_params))) - ops.log(ops.abs(cut_nat_params))
        taylor = 0.5 * x + ops.square(x) / 24.0 - ops.power(x, 4) / 2880.0
        return ops.where(outside, log_norm, taylor)
