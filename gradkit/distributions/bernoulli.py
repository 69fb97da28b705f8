"""``Bernoulli(probs=None, logits=None)``: 1 with probability ``probs``, else 0 (``torch.distributions.Bernoulli``)."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.distributions import constraints
from gradkit.distributions._discrete import BinaryParameter, arange_support, bce_with_logits, probs_or_logits, softplus
from gradkit.distributions.exp_family import ExponentialFamily
from gradkit.distributions.utils import (
    _standard_uniform,
    broadcast_all,
)
from gradkit.tensor import Tensor

__all__ = ["Bernoulli"]


class Bernoulli(BinaryParameter, ExponentialFamily):
    """Values 0 and 1, parameterised by ``probs`` (P(1), in [0, 1]) or ``logits`` (its log-odds), not both.
    The other one is computed when first read (``lazy_property``)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True
    _mean_carrier_measure = 0

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None) -> None:
        key, value = probs_or_logits(probs, logits, "Bernoulli")
        (param,) = broadcast_all(value, name="Bernoulli")
        self.__dict__[key] = param
        self._param_name = key
        super().__init__(param.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        probs = self.probs
        return ops.where(probs == 0.5, math.nan, ops.astype(probs >= 0.5, probs.dtype))

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            probs = self.probs.detach()
            u = _standard_uniform(shape, probs)
            return ops.astype(u < probs, probs.dtype)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        return -bce_with_logits(self.logits, value)

    def entropy(self) -> Tensor:
        return bce_with_logits(self.logits, self.probs)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        return arange_support(2, self._batch_shape, self._param, self._param.dtype, expand)

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (ops.logit(self.probs),)

    def _log_normalizer(self, x: Tensor) -> Tensor:
        return softplus(x)
