"""``Exponential(rate)``: the exponential distribution (``torch.distributions.Exponential``)."""

from __future__ import annotations

from typing import Any

import gradkit.ops as ops
from gradkit.creation import zeros_like
from gradkit.distributions import constraints
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.utils import _standard_uniform, broadcast_all
from gradkit.tensor import Tensor

__all__ = ["Exponential"]


class Exponential(ExponentialFamily):
    """The exponential distribution with rate ``rate`` (> 0): density rate * exp(-rate * x) on x >= 0."""

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, rate: Any, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate, name="Exponential")
        super().__init__(self.rate.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return ops.reciprocal(self.rate)

    @property
    def mode(self) -> Tensor:
        return zeros_like(self.rate)

    @property
    def stddev(self) -> Tensor:
        return ops.reciprocal(self.rate)

    @property
    def variance(self) -> Tensor:
        return ops.reciprocal(ops.square(self.rate))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        u = _standard_uniform(self._extended_shape(sample_shape), self.rate)
        return -ops.log1p(-u) / self.rate  # u < 1: finite

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        return ops.log(self.rate) - self.rate * value

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value)
        return -ops.expm1(-self.rate * value)

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, validate=False)
        return -ops.log1p(-value) / self.rate

    def entropy(self) -> Tensor:
        return 1.0 - ops.log(self.rate)

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (-self.rate,)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return -ops.log(-x)
