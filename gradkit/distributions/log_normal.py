"""``LogNormal(loc, scale)``: exp of a normal variable (``torch.distributions.LogNormal``)."""

from __future__ import annotations

from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions.normal import Normal
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import ExpTransform
from gradkit.tensor import Tensor

__all__ = ["LogNormal"]


class LogNormal(TransformedDistribution):
    """X = exp(Y) with Y ~ Normal(loc, scale); ``loc`` and ``scale`` are Y's."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        base = Normal(loc, scale, validate_args=False)  # checked below, as LogNormal's parameters
        super().__init__(base, ExpTransform(), validate_args=validate_args)
        self._share_validation(base)

    @property
    def loc(self) -> Tensor:
        return self.base_dist.loc

    @property
    def scale(self) -> Tensor:
        return self.base_dist.scale

    @property
    def mean(self) -> Tensor:
        return ops.exp(self.loc + ops.square(self.scale) / 2)

    @property
    def mode(self) -> Tensor:
        return ops.exp(self.loc - ops.square(self.scale))

    @property
    def variance(self) -> Tensor:
        s2 = ops.square(self.scale)
        return ops.expm1(s2) * ops.exp(2 * self.loc + s2)

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() + self.loc
