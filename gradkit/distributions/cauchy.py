"""``Cauchy(loc, scale)``: the Cauchy (Lorentz) distribution (``torch.distributions.Cauchy``)."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.creation import full_like
from gradkit.distributions import constraints
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.utils import _standard_uniform, broadcast_all
from gradkit.tensor import Tensor

__all__ = ["Cauchy"]


class Cauchy(Distribution):
    """Density 1 / (pi scale (1 + ((x - loc) / scale)^2)), scale > 0. Its mean is undefined (NaN) and its
    variance infinite, as PyTorch reports them."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale, name="Cauchy")
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return full_like(self.loc, math.nan)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return full_like(self.loc, math.inf)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        u = _standard_uniform(self._extended_shape(sample_shape), self.loc)
        return self.loc + ops.tan(math.pi * (u - 0.5)) * self.scale

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        return -math.log(math.pi) - ops.log(self.scale) - ops.log1p(ops.square((value - self.loc) / self.scale))

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value)
        return ops.arctan((value - self.loc) / self.scale) / math.pi + 0.5

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, validate=False)
        return ops.tan(math.pi * (value - 0.5)) * self.scale + self.loc

    def entropy(self) -> Tensor:
        return math.log(4 * math.pi) + ops.log(self.scale)
