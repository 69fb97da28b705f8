"""``Uniform(low, high)``: the continuous uniform distribution on [low, high) (``torch.distributions.Uniform``)."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions.distribution import Distribution, _checks_allowed
from gradkit.distributions.utils import _standard_uniform, broadcast_all
from gradkit.errors import InvalidArgumentError
from gradkit.tensor import Tensor

__all__ = ["Uniform"]


class Uniform(Distribution):
    """Uniform on the half-open interval [``low``, ``high``) (low < high)."""

    arg_constraints = {
        "low": constraints.dependent(is_discrete=False, event_dim=0),
        "high": constraints.dependent(is_discrete=False, event_dim=0),
    }
    has_rsample = True

    def __init__(self, low: Any, high: Any, validate_args: bool | None = None) -> None:
        self.low, self.high = broadcast_all(low, high, name="Uniform")
        super().__init__(self.low.shape, validate_args=validate_args)
        if self._validate_args and _checks_allowed(self.low):
            if not bool(ops.all(self.low < self.high).item()):
                raise InvalidArgumentError(f"Uniform is not defined when low >= high (low: {self.low}, high: "
                                           f"{self.high})")  # fmt: skip

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.interval(self.low, self.high)

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> Tensor:
        return self.high * math.nan

    @property
    def stddev(self) -> Tensor:
        return (self.high - self.low) / math.sqrt(12)

    @property
    def variance(self) -> Tensor:
        return ops.square(self.high - self.low) / 12

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        u = _standard_uniform(self._extended_shape(sample_shape), self.low)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        inside = (value >= self.low) & (value < self.high)
        return ops.where(inside, 0.0, -math.inf) - ops.log(self.high - self.low)

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value)
        return ops.clip((value - self.low) / (self.high - self.low), 0.0, 1.0)

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, validate=False)
        return value * (self.high - self.low) + self.low

    def entropy(self) -> Tensor:
        return ops.log(self.high - self.low)
