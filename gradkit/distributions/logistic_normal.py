"""``LogisticNormal(loc, scale)``: a normal vector mapped onto the simplex by stick breaking
(``torch.distributions.LogisticNormal``)."""

from __future__ import annotations

from typing import Any

from gradkit.distributions import constraints
from gradkit.distributions.normal import Normal
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import StickBreakingTransform
from gradkit.tensor import Tensor

__all__ = ["LogisticNormal"]


class LogisticNormal(TransformedDistribution):
    """X = StickBreakingTransform()(Y) with Y ~ Normal(loc, scale) of K - 1 coordinates; X lies on the
    simplex of K coordinates (``event_shape`` (K,))."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        base = Normal(loc, scale, validate_args=False)  # checked below, as LogisticNormal's parameters
        if not base.batch_shape:
            base = base.expand((1,))
        super().__init__(base, StickBreakingTransform(), validate_args=validate_args)
        self._share_validation(self.base_dist.base_dist)

    @property
    def loc(self) -> Tensor:
        return self.base_dist.base_dist.loc

    @property
    def scale(self) -> Tensor:
        return self.base_dist.base_dist.scale
