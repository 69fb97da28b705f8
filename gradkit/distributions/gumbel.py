"""``Gumbel(loc, scale)``: the Gumbel (type-I extreme value) distribution (``torch.distributions.Gumbel``),
a uniform distribution pushed through -log(-log u) and an affine map."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.creation import full_like, ones_like
from gradkit.distributions import constraints
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import AffineTransform, ExpTransform
from gradkit.distributions.uniform import Uniform
from gradkit.distributions.utils import broadcast_all, euler_constant, finfo
from gradkit.tensor import Tensor

__all__ = ["Gumbel"]


class Gumbel(TransformedDistribution):
    """Density exp(-(z + exp(-z))) / scale with z = (x - loc) / scale, scale > 0."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale, name="Gumbel")
        fi = finfo(self.loc)
        base = Uniform(full_like(self.loc, float(fi.tiny)), full_like(self.loc, 1 - float(fi.eps)),
                       validate_args=validate_args)  # fmt: skip
        transforms = [ExpTransform().inv, AffineTransform(0, -ones_like(self.scale)), ExpTransform().inv,
                      AffineTransform(self.loc, -self.scale)]  # fmt: skip
        super().__init__(base, transforms, validate_args=validate_args)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        y = (self.loc - value) / self.scale
        return (y - ops.exp(y)) - ops.log(self.scale)

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * euler_constant

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return (math.pi / math.sqrt(6)) * self.scale

    @property
    def variance(self) -> Tensor:
        return ops.square(self.stddev)

    def entropy(self) -> Tensor:
        return ops.log(self.scale) + (1 + euler_constant)
