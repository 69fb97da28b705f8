"""``Normal(loc, scale)``: the Gaussian distribution (``torch.distributions.Normal``)."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.utils import _standard_normal, broadcast_all
from gradkit.ops.special import erfinv
from gradkit.tensor import Tensor

__all__ = ["Normal"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class Normal(ExponentialFamily):
    """The normal distribution with mean ``loc`` and standard deviation ``scale`` (> 0)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale, name="Normal")
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return ops.square(self.scale)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        eps = _standard_normal(self._extended_shape(sample_shape), self.loc)
        return self.loc + eps * self.scale

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        return -ops.square(value - self.loc) / (2 * ops.square(self.scale)) - ops.log(self.scale) - _LOG_SQRT_2PI

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value)
        return 0.5 * (1 + ops.erf((value - self.loc) / (self.scale * math.sqrt(2))))

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, validate=False)
        return self.loc + self.scale * erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self) -> Tensor:
        return 0.5 + _LOG_SQRT_2PI + ops.log(self.scale)

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return self.loc / ops.square(self.scale), -0.5 / ops.square(self.scale)

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        return -0.25 * ops.square(x) / y + 0.5 * ops.log(-math.pi / y)
