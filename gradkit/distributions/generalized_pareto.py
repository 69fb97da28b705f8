"""``GeneralizedPareto(loc, scale, concentration)``: the generalized Pareto distribution
(``torch.distributions.GeneralizedPareto``, after TensorFlow Probability's).

With z = (x - loc) / scale and shape c = ``concentration``, the survival function is (1 + c z)^(-1/c)
(exp(-z) at c = 0): Exponential for loc = c = 0, Pareto for c > 0 and loc = scale / c, Uniform for c = -1.
A concentration within 1e-8 of 0 (``torch.isclose``'s reach) is treated as 0.
"""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.utils import _standard_uniform, broadcast_all
from gradkit.tensor import Tensor

__all__ = ["GeneralizedPareto"]


class GeneralizedPareto(Distribution):
    """Support [loc, inf) for concentration >= 0, [loc, loc - scale / concentration] below; scale > 0."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive, "concentration": constraints.real}
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, concentration: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration, name="GeneralizedPareto")
        super().__init__(self.loc.shape, validate_args=validate_args)

    def _zero_and_safe(self) -> tuple[Tensor, Tensor]:
        """Where the concentration counts as 0, and the concentration with 1 there (no division by 0)."""
        eq_zero = ops.abs(self.concentration) <= 1e-8
        return eq_zero, ops.where(eq_zero, 1.0, self.concentration)

    def _z(self, x: Tensor) -> Tensor:
        return (x - self.loc) / self.scale

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        u = _standard_uniform(self._extended_shape(sample_shape), self.loc)
        return self.icdf(u)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        z = self._z(value)
        eq_zero, safe = self._zero_and_safe()
        y = 1 / safe + 1
        nonzero = ops.where(y == 0, y, y * ops.log1p(safe * z))
        return -ops.log(self.scale) - ops.where(eq_zero, z, nonzero)

    def log_survival_function(self, value: Any) -> Tensor:
        """log P(X > value): -log1p(c z) / c (-z at c = 0)."""
        value = self._value(value)
        z = self._z(value)
        eq_zero, safe = self._zero_and_safe()
        return ops.where(eq_zero, -z, -ops.log1p(safe * z) / safe)

    def log_cdf(self, value: Any) -> Tensor:
        """log P(X <= value) = log1p(-exp(log_survival_function(value)))."""
        return ops.log1p(-ops.exp(self.log_survival_function(value)))

    def cdf(self, value: Any) -> Tensor:
        return ops.exp(self.log_cdf(value))

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, validate=False)
        eq_zero, safe = self._zero_and_safe()
        logu = ops.log1p(-value)
        nonzero = self.loc + self.scale / safe * ops.expm1(-safe * logu)
        return ops.where(eq_zero, self.loc - self.scale * logu, nonzero)

    @property
    def mean(self) -> Tensor:
        """loc + scale / (1 - c) for c < 1, NaN elsewhere."""
        c = self.concentration
        valid = c < 1
        safe = ops.where(valid, c, 0.5)
        return ops.where(valid, self.loc + self.scale / (1 - safe), math.nan)

    @property
    def variance(self) -> Tensor:
        """scale^2 / ((1 - c)^2 (1 - 2c)) for c < 1/2, NaN elsewhere."""
        c = self.concentration
        valid = c < 0.5
        safe = ops.where(valid, c, 0.25)
        return ops.where(valid, ops.square(self.scale) / (ops.square(1 - safe) * (1 - 2 * safe)), math.nan)

    def entropy(self) -> Tensor:
        return ops.broadcast_to(ops.log(self.scale) + self.concentration + 1, self._batch_shape)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        c = self.concentration
        safe = ops.where(c < 0, c, -1.0)
        upper = ops.where(c < 0, self.loc - self.scale / safe, math.inf)
        return constraints.interval(self.loc, upper)
