"""``Poisson(rate)``: counts with mass rate^k e^(-rate) / k! (``torch.distributions.Poisson``)."""

from __future__ import annotations

from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.distributions import constraints
from gradkit.distributions._discrete import full_array, generator_draw, wrap
from gradkit.distributions.distribution import DistributionNotImplementedError
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.utils import broadcast_all
from gradkit.tensor import Tensor

__all__ = ["Poisson"]


class Poisson(ExponentialFamily):
    """Counts 0, 1, 2, ... with mean ``rate`` (>= 0). ``sample`` draws from the backend generator's
    ``poisson``; there is no closed-form entropy (as PyTorch's)."""

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate: Any, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate, name="Poisson")
        super().__init__(self.rate.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return ops.floor(self.rate)

    @property
    def variance(self) -> Tensor:
        return self.rate

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            lam = full_array(self.rate, shape, np.float64)
            return wrap(generator_draw(self.rate, "poisson", "Poisson", lam, shape), self.rate, self.rate.dtype)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        return ops.xlogy(value, self.rate) - self.rate - ops.lgamma(value + 1)

    def entropy(self) -> Tensor:
        raise DistributionNotImplementedError("Poisson does not implement entropy (it has no closed form)")

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (ops.log(self.rate),)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return ops.exp(x)
