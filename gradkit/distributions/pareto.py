"""``Pareto(scale, alpha)``: the Pareto (type I) distribution, scale exp(E) for E ~ Exponential(alpha)
(``torch.distributions.Pareto``)."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions.exponential import Exponential
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import AffineTransform, ExpTransform
from gradkit.distributions.utils import broadcast_all
from gradkit.tensor import Tensor

__all__ = ["Pareto"]


class Pareto(TransformedDistribution):
    """Density alpha scale^alpha / x^(alpha + 1) on x >= scale, for scale > 0 and the tail index alpha > 0."""

    arg_constraints = {"alpha": constraints.positive, "scale": constraints.positive}

    def __init__(self, scale: Any, alpha: Any, validate_args: bool | None = None) -> None:
        self.scale, self.alpha = broadcast_all(scale, alpha, name="Pareto")
        base = Exponential(self.alpha, validate_args=False)  # alpha is checked as Pareto's parameter
        super().__init__(base, [ExpTransform(), AffineTransform(0, self.scale)], validate_args=validate_args)
        self._share_validation(base)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.greater_than_eq(self.scale)

    @property
    def mean(self) -> Tensor:
        """alpha scale / (alpha - 1); inf for alpha <= 1."""
        finite = self.alpha > 1
        a = ops.where(finite, self.alpha, 2.0)
        return ops.where(finite, a * self.scale / (a - 1), math.inf)

    @property
    def mode(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        """scale^2 alpha / ((alpha - 1)^2 (alpha - 2)); inf for alpha <= 2."""
        finite = self.alpha > 2
        a = ops.where(finite, self.alpha, 3.0)
        return ops.where(finite, ops.square(self.scale) * a / (ops.square(a - 1) * (a - 2)), math.inf)

    def entropy(self) -> Tensor:
        return ops.log(self.scale / self.alpha) + (1 + ops.reciprocal(self.alpha))
