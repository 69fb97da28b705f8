"""``Dirichlet(concentration)``: the Dirichlet distribution on the simplex (``torch.distributions.Dirichlet``).

A sample is a vector of independent Gamma(concentration_i, 1) draws divided by their sum, so its gradient in
the concentration is that of the gamma draws (``_standard_gamma``) through the normalisation (PyTorch's own
Dirichlet gradient is another estimator with the same expectation).
"""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions._standard_gamma import log_standard_gamma
from gradkit.distributions.beta import _narrow, _wide
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.utils import promote_all
from gradkit.errors import ShapeError
from gradkit.tensor import Tensor

__all__ = ["Dirichlet"]


def _one_hot_first_max(x: Tensor) -> Tensor:
    """One-hot vectors (in x's dtype) marking the first largest (or first NaN) entry of x's last axis."""
    xp = x._backend.xp
    k = x.shape[-1]
    index = xp.argmax(x._data, axis=-1)
    data = (index[..., None] == xp.arange(k)).astype(x.dtype)
    return Tensor._make(data, x._backend)


class Dirichlet(ExponentialFamily):
    """Density Gamma(sum c) / prod Gamma(c_i) prod x_i^(c_i - 1) on the simplex of concentration.shape[-1]
    coordinates (``event_shape``), for a concentration (> 0) of at least one dimension."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration: Any, validate_args: bool | None = None) -> None:
        (concentration,) = promote_all(concentration, name="Dirichlet")
        if concentration.ndim < 1:
            raise ShapeError("Dirichlet: `concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """Gamma(c_i, 1) draws over their sum, taken in float64 whatever the dtype as the softmax of their
        logarithms (small concentrations' draws underflow even float64, their logarithms never), then cast."""
        shape = self._extended_shape(sample_shape)
        log_g = log_standard_gamma(ops.broadcast_to(_wide(self.concentration), shape))
        return _narrow(ops.softmax(log_g, axis=-1), self.concentration.dtype)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        c = self.concentration
        return (ops.sum(ops.xlogy(c - 1.0, value), axis=-1) + ops.lgamma(ops.sum(c, axis=-1))
                - ops.sum(ops.lgamma(c), axis=-1))  # fmt: skip

    @property
    def mean(self) -> Tensor:
        return self.concentration / ops.sum(self.concentration, axis=-1, keepdims=True)

    @property
    def mode(self) -> Tensor:
        """(c - 1)+ normalised; where every c_i < 1, the vertex of the first coordinate that normalisation
        makes largest (NaN: the first), as PyTorch's."""
        cm1 = ops.clip(self.concentration - 1, 0.0, None)
        total = ops.sum(cm1, axis=-1, keepdims=True)
        mode = ops.where(total > 0, cm1 / ops.where(total > 0, total, 1.0), math.nan)
        corner = ops.all(self.concentration < 1, axis=-1, keepdims=True)
        return ops.where(corner, _one_hot_first_max(mode.detach()), mode)

    @property
    def variance(self) -> Tensor:
        c = self.concentration
        c0 = ops.sum(c, axis=-1, keepdims=True)
        return c * (c0 - c) / (ops.square(c0) * (c0 + 1))

    def entropy(self) -> Tensor:
        c = self.concentration
        k = c.shape[-1]
        a0 = ops.sum(c, axis=-1)
        return (ops.sum(ops.lgamma(c), axis=-1) - ops.lgamma(a0) - (k - a0) * ops.digamma(a0)
                - ops.sum((c - 1.0) * ops.digamma(c), axis=-1))  # fmt: skip

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.concentration,)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return ops.sum(ops.lgamma(x), axis=-1) - ops.lgamma(ops.sum(x, axis=-1))
