"""``Kumaraswamy(concentration1, concentration0)``: the Kumaraswamy distribution on [0, 1],
(1 - U^(1/b))^(1/a) for U ~ Uniform(0, 1) (``torch.distributions.Kumaraswamy``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.creation import full_like
from gradkit.distributions import constraints
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import AffineTransform, PowerTransform
from gradkit.distributions.uniform import Uniform
from gradkit.distributions.utils import broadcast_all, euler_constant
from gradkit.ops.special import xlog1py
from gradkit.tensor import Tensor

__all__ = ["Kumaraswamy"]


def _moments(a: Tensor, b: Tensor, n: int) -> Tensor:
    """E[X^n] = b B(1 + n/a, b)."""
    arg1 = 1 + n / a
    return b * ops.exp(ops.lgamma(arg1) + ops.lgamma(b) - ops.lgamma(arg1 + b))


class Kumaraswamy(TransformedDistribution):
    """Density a b x^(a-1) (1 - x^a)^(b-1) on [0, 1], for a = ``concentration1`` > 0, b = ``concentration0`` > 0."""

    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1: Any, concentration0: Any, validate_args: bool | None = None) -> None:
        self.concentration1, self.concentration0 = broadcast_all(concentration1, concentration0, name="Kumaraswamy")
        base = Uniform(full_like(self.concentration0, 0.0), full_like(self.concentration0, 1.0), validate_args=False)
        with np.errstate(divide="ignore"):  # (a concentration of 0 is reported by the validation below)
            transforms = [PowerTransform(ops.reciprocal(self.concentration0)), AffineTransform(1.0, -1.0),
                          PowerTransform(ops.reciprocal(self.concentration1))]  # fmt: skip
        super().__init__(base, transforms, validate_args=validate_args)

    def log_prob(self, value: Any) -> Tensor:
        """log(a b) + (a - 1) log x + (b - 1) log1p(-x^a): the chain of transforms' value, without its loss of
        digits where x^a is below the rounding of 1."""
        value = self._value(value)
        a, b = self.concentration1, self.concentration0
        return ops.log(a * b) + ops.xlogy(a - 1, value) + xlog1py(b - 1, -ops.power(value, a))

    def cdf(self, value: Any) -> Tensor:
        """1 - (1 - x^a)^b, as -expm1(b log1p(-x^a))."""
        value = self._value(value)
        a, b = self.concentration1, self.concentration0
        return -ops.expm1(b * ops.log1p(-ops.power(value, a)))

    def icdf(self, value: Any) -> Tensor:
        """(1 - (1 - u)^(1/b))^(1/a), as (-expm1(log1p(-u) / b))^(1/a)."""
        value = self._value(value, validate=False)
        a, b = self.concentration1, self.concentration0
        return ops.power(-ops.expm1(ops.log1p(-value) / b), ops.reciprocal(a))

    @property
    def mean(self) -> Tensor:
        return _moments(self.concentration1, self.concentration0, 1)

    @property
    def mode(self) -> Tensor:
        """((a - 1) / (a b - 1))^(1/a) where a, b >= 1 (0 at a = 1 < b, 1 at b = 1 < a), NaN where a < 1 or b < 1
        and at a = b = 1 (where every point is a mode). PyTorch 2.14's formula gives NaN for every b > 1."""
        a, b = self.concentration1, self.concentration0
        valid = (a >= 1) & (b >= 1) & ((a > 1) | (b > 1))
        sa = ops.where(valid, a, 2.0)
        sb = ops.where(valid, b, 2.0)
        return ops.where(valid, ops.power((sa - 1) / (sa * sb - 1), ops.reciprocal(sa)), math.nan)

    @property
    def variance(self) -> Tensor:
        return _moments(self.concentration1, self.concentration0, 2) - ops.square(self.mean)

    def entropy(self) -> Tensor:
        t1 = 1 - ops.reciprocal(self.concentration1)
        t0 = 1 - ops.reciprocal(self.concentration0)
        h0 = ops.digamma(self.concentration0 + 1) + euler_constant
        return t0 + t1 * h0 - ops.log(self.concentration1) - ops.log(self.concentration0)
