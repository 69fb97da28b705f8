"""``HalfNormal(scale)``: |X| with X ~ Normal(0, scale) (``torch.distributions.HalfNormal``)."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.creation import zeros_like
from gradkit.distributions import constraints
from gradkit.distributions.normal import Normal
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import AbsTransform
from gradkit.tensor import Tensor

__all__ = ["HalfNormal"]


class HalfNormal(TransformedDistribution):
    """Density 2 N(x; 0, scale) on x >= 0, scale > 0."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, scale: Any, validate_args: bool | None = None) -> None:
        base = Normal(0, scale, validate_args=False)
        super().__init__(base, AbsTransform(), validate_args=validate_args)  # checks scale
        self._share_validation(base)

    @property
    def scale(self) -> Tensor:
        return self.base_dist.scale

    @property
    def mean(self) -> Tensor:
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def mode(self) -> Tensor:
        return zeros_like(self.scale)

    @property
    def variance(self) -> Tensor:
        return ops.square(self.scale) * (1 - 2 / math.pi)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return ops.where(value >= 0, log_prob, -math.inf)

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value)
        return 2 * self.base_dist.cdf(value) - 1

    def icdf(self, prob: Any) -> Tensor:
        prob = self._value(prob, validate=False)
        return self.base_dist.icdf((prob + 1) / 2)

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() - math.log(2)
