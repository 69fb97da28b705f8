"""``StudentT(df, loc=0, scale=1)``: Student's t-distribution (``torch.distributions.StudentT``), sampled as
loc + scale X / sqrt(Z / df) with X ~ Normal(0, 1) and Z ~ Chi2(df), differentiable in all three parameters."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions.chi2 import Chi2
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.utils import _standard_normal, broadcast_all
from gradkit.tensor import Tensor

__all__ = ["StudentT"]

_LGAMMA_HALF = math.lgamma(0.5)


class StudentT(Distribution):
    """Density Gamma((df+1)/2) / (Gamma(df/2) sqrt(df pi) scale) (1 + y^2/df)^(-(df+1)/2), y = (x - loc) / scale,
    for df > 0 degrees of freedom and scale > 0."""

    arg_constraints = {"df": constraints.positive, "loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df: Any, loc: Any = 0.0, scale: Any = 1.0, validate_args: bool | None = None) -> None:
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale, name="StudentT")
        super().__init__(self.df.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        """loc where df > 1, NaN elsewhere."""
        return ops.where(self.df > 1, self.loc, math.nan)

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        """scale^2 df / (df - 2) where df > 2, inf where 1 < df <= 2, NaN where df <= 1."""
        df = self.df
        safe = ops.where(df > 2, df, 3.0)  # no inf or NaN in the branch not taken (nor in its gradient)
        finite = ops.square(self.scale) * safe / (safe - 2)
        return ops.where(df > 2, finite, ops.where(df > 1, math.inf, math.nan))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        x = _standard_normal(shape, self.df)
        z = Chi2(self.df, validate_args=False).rsample(sample_shape)
        return self.loc + self.scale * (x * ops.rsqrt(z / self.df))

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        df = self.df
        y = (value - self.loc) / self.scale
        z = (ops.log(self.scale) + 0.5 * ops.log(df) + 0.5 * math.log(math.pi) + ops.lgamma(0.5 * df)
             - ops.lgamma(0.5 * (df + 1.0)))  # fmt: skip
        return -0.5 * (df + 1.0) * ops.log1p(ops.square(y) / df) - z

    def entropy(self) -> Tensor:
        df = self.df
        lbeta = ops.lgamma(0.5 * df) + _LGAMMA_HALF - ops.lgamma(0.5 * (df + 1))
        return (ops.log(self.scale) + 0.5 * (df + 1) * (ops.digamma(0.5 * (df + 1)) - ops.digamma(0.5 * df))
                + 0.5 * ops.log(df) + lbeta)  # fmt: skip
