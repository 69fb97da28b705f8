"""``InverseGamma(concentration, rate)``: 1 / X for X ~ Gamma(concentration, rate)
(``torch.distributions.InverseGamma``)."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.creation import full
from gradkit.distributions import constraints
from gradkit.distributions.gamma import Gamma
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import PowerTransform
from gradkit.distributions.utils import broadcast_all
from gradkit.tensor import Tensor

__all__ = ["InverseGamma"]


class InverseGamma(TransformedDistribution):
    """Density rate^c x^(-c-1) e^(-rate / x) / Gamma(c) on x > 0 (c = ``concentration`` > 0, ``rate`` > 0: the
    parameters of the gamma distribution of 1 / x)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, concentration: Any, rate: Any, validate_args: bool | None = None) -> None:
        # broadcast here first, so that parameters that do not broadcast are reported under this family's name
        concentration, rate = broadcast_all(concentration, rate, name="InverseGamma")
        base = Gamma(concentration, rate, validate_args=False)  # checked below, as InverseGamma's parameters
        neg_one = full((), -1.0, dtype=base.rate.dtype, device=base.rate._backend)  # on the parameters' device
        super().__init__(base, PowerTransform(neg_one), validate_args=validate_args)
        self._share_validation(base)

    @property
    def concentration(self) -> Tensor:
        return self.base_dist.concentration

    @property
    def rate(self) -> Tensor:
        return self.base_dist.rate

    @property
    def mean(self) -> Tensor:
        """rate / (c - 1) where c > 1, inf elsewhere."""
        c = self.concentration
        safe = ops.where(c > 1, c, 2.0)
        return ops.where(c > 1, self.rate / (safe - 1), math.inf)

    @property
    def mode(self) -> Tensor:
        return self.rate / (self.concentration + 1)

    @property
    def variance(self) -> Tensor:
        """rate^2 / ((c - 1)^2 (c - 2)) where c > 2, inf elsewhere."""
        c = self.concentration
        safe = ops.where(c > 2, c, 3.0)
        return ops.where(c > 2, ops.square(self.rate) / (ops.square(safe - 1) * (safe - 2)), math.inf)

    def entropy(self) -> Tensor:
        c = self.concentration
        return c + ops.log(self.rate) + ops.lgamma(c) - (1 + c) * ops.digamma(c)
