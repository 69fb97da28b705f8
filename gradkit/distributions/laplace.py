"""``Laplace(loc, scale)``: the Laplace (double exponential) distribution (``torch.distributions.Laplace``)."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.utils import _standard_uniform, broadcast_all, finfo
from gradkit.tensor import Tensor

__all__ = ["Laplace"]


class Laplace(Distribution):
    """Density exp(-|x - loc| / scale) / (2 scale), scale > 0."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale, name="Laplace")
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return 2 * ops.square(self.scale)

    @property
    def stddev(self) -> Tensor:
        return math.sqrt(2) * self.scale

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        eps = float(finfo(self.loc).eps)
        u = _standard_uniform(self._extended_shape(sample_shape), self.loc)
        u = u * (2 - eps) + (eps - 1)  # U[eps - 1, 1): |u| < 1, so log1p(-|u|) is finite
        return self.loc - self.scale * ops.sign(u) * ops.log1p(-ops.abs(u))

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        return -ops.log(2 * self.scale) - ops.abs(value - self.loc) / self.scale

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value)
        d = value - self.loc
        # each side's formula on its own half (clipped, so the other side stays finite): the slope at d = 0
        # is 1 / (2 scale) from both, where the sign(d) form gives 0
        below = 0.5 * ops.exp(ops.clip(d, None, 0.0) / self.scale)
        above = 1 - 0.5 * ops.exp(-ops.clip(d, 0.0, None) / self.scale)
        return ops.where(d < 0, below, above)

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, validate=False)
        term = value - 0.5
        # as cdf: one formula per half, so that the slope at value = 0.5 is 2 scale, not 0
        above = -ops.log1p(-2 * ops.clip(term, 0.0, None))
        below = ops.log1p(2 * ops.clip(term, None, 0.0))
        return self.loc + self.scale * ops.where(term >= 0, above, below)

    def entropy(self) -> Tensor:
        return 1 + ops.log(2 * self.scale)
