"""``Gamma(concentration, rate)``: the gamma distribution (``torch.distributions.Gamma``), with reparameterised
samples whose gradient in the concentration is the implicit one (see ``_standard_gamma``)."""

from __future__ import annotations

from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions._standard_gamma import gammainc_a, standard_gamma
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.utils import broadcast_all
from gradkit.tensor import Tensor

__all__ = ["Gamma"]


def _clamp_tiny(value: Tensor) -> Tensor:
    """``value`` (a fresh result) raised in place to the dtype's smallest normal number, outside the graph (as
    PyTorch's ``value.detach().clamp_(min=tiny)``: the gradient is that of the value before)."""
    xp = value._backend.xp
    xp.maximum(value._data, np.finfo(value.dtype).tiny, out=value._data)
    return value


class Gamma(ExponentialFamily):
    """Density rate^c x^(c-1) e^(-rate x) / Gamma(c) on x >= 0, for the concentration (shape) c > 0 and the
    rate (inverse scale) > 0. ``rsample`` is differentiable in both; ``cdf`` (the regularised incomplete gamma
    function) in both too, and in the value."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0
    _batch_attributes = ("concentration", "rate")  # for Chi2, whose parameter is df

    def __init__(self, concentration: Any, rate: Any, validate_args: bool | None = None) -> None:
        self.concentration, self.rate = broadcast_all(concentration, rate, name=type(self).__name__)
        super().__init__(self.concentration.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ops.clip((self.concentration - 1) / self.rate, 0.0, None)

    @property
    def variance(self) -> Tensor:
        return self.concentration / ops.square(self.rate)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        x = standard_gamma(ops.broadcast_to(self.concentration, shape))
        return _clamp_tiny(x / ops.broadcast_to(self.rate, shape))

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        c, rate = self.concentration, self.rate
        return ops.xlogy(c, rate) + ops.xlogy(c - 1, value) - rate * value - ops.lgamma(c)

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value)
        return gammainc_a(self.concentration, self.rate * value)

    def entropy(self) -> Tensor:
        c = self.concentration
        return c - ops.log(self.rate) + ops.lgamma(c) + (1.0 - c) * ops.digamma(c)

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return self.concentration - 1, -self.rate

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:
        return ops.lgamma(x + 1) + (x + 1) * ops.log(-ops.reciprocal(y))
