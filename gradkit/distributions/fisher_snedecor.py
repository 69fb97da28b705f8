"""``FisherSnedecor(df1, df2)``: the F-distribution (``torch.distributions.FisherSnedecor``), sampled as the
ratio of two scaled gamma draws, differentiable in both degrees of freedom."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.gamma import Gamma
from gradkit.distributions.utils import broadcast_all, finfo
from gradkit.tensor import Tensor

__all__ = ["FisherSnedecor"]


class FisherSnedecor(Distribution):
    """The distribution of (X1 / df1) / (X2 / df2) for independent chi-squared X1, X2 with df1, df2 > 0
    degrees of freedom."""

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1: Any, df2: Any, validate_args: bool | None = None) -> None:
        self.df1, self.df2 = broadcast_all(df1, df2, name="FisherSnedecor")
        super().__init__(self.df1.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        """df2 / (df2 - 2) where df2 > 2, NaN elsewhere."""
        df2 = self.df2
        safe = ops.where(df2 > 2, df2, 3.0)
        return ops.where(df2 > 2, safe / (safe - 2), math.nan)

    @property
    def mode(self) -> Tensor:
        """(df1 - 2) / df1 df2 / (df2 + 2) where df1 > 2, NaN elsewhere."""
        df1, df2 = self.df1, self.df2
        return ops.where(df1 > 2, (df1 - 2) / df1 * df2 / (df2 + 2), math.nan)

    @property
    def variance(self) -> Tensor:
        """2 df2^2 (df1 + df2 - 2) / (df1 (df2 - 2)^2 (df2 - 4)) where df2 > 4, NaN elsewhere."""
        df1, df2 = self.df1, self.df2
        safe = ops.where(df2 > 4, df2, 5.0)
        value = 2 * ops.square(safe) * (df1 + safe - 2) / (df1 * ops.square(safe - 2) * (safe - 4))
        return ops.where(df2 > 4, value, math.nan)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        # X1 ~ Gamma(df1 / 2, rate df1), X2 ~ Gamma(df2 / 2, rate df2): X1 / X2 ~ F(df1, df2)
        x1 = Gamma(self.df1 * 0.5, self.df1, validate_args=False).rsample(sample_shape)
        x2 = Gamma(self.df2 * 0.5, self.df2, validate_args=False).rsample(sample_shape)
        tiny = float(finfo(x2).tiny)
        return ops.clip(x1 / ops.clip(x2, tiny, None), tiny, None)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        ct1 = self.df1 * 0.5
        ct2 = self.df2 * 0.5
        ct3 = self.df1 / self.df2
        t1 = ops.lgamma(ct1 + ct2) - ops.lgamma(ct1) - ops.lgamma(ct2)
        t2 = ct1 * ops.log(ct3) + (ct1 - 1) * ops.log(value)
        t3 = (ct1 + ct2) * ops.log1p(ct3 * value)
        return t1 + t2 - t3
