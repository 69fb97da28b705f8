"""``Weibull(scale, concentration)``: the two-parameter Weibull distribution, scale E^(1/k) for
E ~ Exponential(1) (``torch.distributions.Weibull``)."""

from __future__ import annotations

from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.creation import ones_like
from gradkit.distributions import constraints
from gradkit.distributions.exponential import Exponential
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import AffineTransform, PowerTransform
from gradkit.distributions.utils import broadcast_all, euler_constant
from gradkit.tensor import Tensor

__all__ = ["Weibull"]


class Weibull(TransformedDistribution):
    """Density (k / scale) (x / scale)^(k-1) exp(-(x / scale)^k) on x > 0, for scale > 0 and the shape
    k = ``concentration`` > 0."""

    arg_constraints = {"scale": constraints.positive, "concentration": constraints.positive}
    support = constraints.positive
    _batch_attributes = ("concentration_reciprocal",)

    def __init__(self, scale: Any, concentration: Any, validate_args: bool | None = None) -> None:
        self.scale, self.concentration = broadcast_all(scale, concentration, name="Weibull")
        with np.errstate(divide="ignore"):  # (a concentration of 0 is reported by the validation below)
            self.concentration_reciprocal = ops.reciprocal(self.concentration)
        base = Exponential(ones_like(self.scale), validate_args=False)
        transforms = [PowerTransform(self.concentration_reciprocal), AffineTransform(0, self.scale)]
        super().__init__(base, transforms, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.scale * ops.exp(ops.lgamma(1 + self.concentration_reciprocal))

    @property
    def mode(self) -> Tensor:
        """scale ((k - 1) / k)^(1/k), PyTorch's formula: 0 at k = 1, and for k < 1 a negative number to the
        power 1/k (NaN unless 1/k is whole)."""
        k = self.concentration
        return self.scale * ops.power((k - 1) / k, ops.reciprocal(k))

    @property
    def variance(self) -> Tensor:
        r = self.concentration_reciprocal
        return ops.square(self.scale) * (ops.exp(ops.lgamma(1 + 2 * r)) - ops.exp(2 * ops.lgamma(1 + r)))

    def entropy(self) -> Tensor:
        r = self.concentration_reciprocal
        return euler_constant * (1 - r) + ops.log(self.scale * r) + 1
