"""``Beta(concentration1, concentration0)``: the beta distribution on [0, 1] (``torch.distributions.Beta``),
a two-coordinate Dirichlet: samples are g1 / (g1 + g0) for independent gamma draws, differentiable in both
concentrations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions._standard_gamma import log_standard_gamma
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.utils import broadcast_all
from gradkit.tensor import Tensor

__all__ = ["Beta"]


def _wide(t: Tensor) -> Tensor:
    """``t`` in float64 (the gamma draws of Beta and Dirichlet are normalised in float64)."""
    return t if t.dtype == np.float64 else ops.astype(t, np.float64)


def _narrow(t: Tensor, dtype: Any) -> Tensor:
    """A float64 sample in ``dtype``, at least its smallest normal number (as PyTorch's samplers keep their
    gamma draws), so that a coordinate too small for the dtype is not 0."""
    t = t if t.dtype == dtype else ops.astype(t, dtype)
    return ops.clip(t, float(np.finfo(dtype).tiny), None)


class Beta(ExponentialFamily):
    """Density x^(a-1) (1-x)^(b-1) / B(a, b) on [0, 1] for a = ``concentration1`` > 0 (the weight of x) and
    b = ``concentration0`` > 0 (of 1 - x)."""

    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1: Any, concentration0: Any, validate_args: bool | None = None) -> None:
        self.concentration1, self.concentration0 = broadcast_all(concentration1, concentration0, name="Beta")
        super().__init__(self.concentration1.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> Tensor:
        """PyTorch's values (its Beta's mode is its Dirichlet's): (a - 1)+ / ((a - 1)+ + (b - 1)+), so 0 where
        a < 1 < b, 1 where b < 1 < a, NaN where both clipped terms are 0 (a = b = 1, or one of them 1 and the
        other below); and 1 where both are below 1 (the first vertex)."""
        a, b = self.concentration1, self.concentration0
        am1 = ops.clip(a - 1, 0.0, None)
        bm1 = ops.clip(b - 1, 0.0, None)
        total = am1 + bm1
        mode = ops.where(total > 0, am1 / ops.where(total > 0, total, 1.0), math.nan)
        return ops.where((a < 1) & (b < 1), 1.0, mode)

    @property
    def variance(self) -> Tensor:
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (ops.square(total) * (total + 1))

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """g1 / (g1 + g0) for gamma draws g1 ~ Gamma(a, 1), g0 ~ Gamma(b, 1), taken in float64 whatever the
        dtype, as sigmoid(log g1 - log g0): small concentrations' draws underflow even float64 often (both
        draws of Beta(1e-3, 1e-3) do a quarter of the time, where g1 / (g1 + g0) gives 0.5, as PyTorch 2.14's
        sampler does), their logarithms never; then cast."""
        shape = self._extended_shape(sample_shape)
        a, b = _wide(self.concentration1), _wide(self.concentration0)
        g1 = log_standard_gamma(ops.broadcast_to(a, shape))
        g0 = log_standard_gamma(ops.broadcast_to(b, shape))
        return _narrow(ops.sigmoid(g1 - g0), self.concentration1.dtype)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        a, b = self.concentration1, self.concentration0
        return (ops.xlogy(a - 1.0, value) + ops.xlogy(b - 1.0, 1.0 - value) + ops.lgamma(a + b) - ops.lgamma(a)
                - ops.lgamma(b))  # fmt: skip

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        total = a + b
        return (ops.lgamma(a) + ops.lgamma(b) - ops.lgamma(total) - (2 - total) * ops.digamma(total)
                - (a - 1.0) * ops.digamma(a) - (b - 1.0) * ops.digamma(b))  # fmt: skip

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return self.concentration1, self.concentration0

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        return ops.lgamma(x) + ops.lgamma(y) - ops.lgamma(x + y)

