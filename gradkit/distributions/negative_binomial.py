"""``NegativeBinomial(total_count, probs=None, logits=None)``: the number of successes before
``total_count`` failures (``torch.distributions.NegativeBinomial``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.creation import _on
from gradkit.distributions import constraints
from gradkit.distributions._discrete import (
    BinaryParameter,
    full_array,
    generator_draw,
    log_sigmoid,
    probs_or_logits,
    wrap,
)
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.utils import broadcast_all
from gradkit.tensor import Tensor

__all__ = ["NegativeBinomial"]


class NegativeBinomial(BinaryParameter, Distribution):
    """Successes 0, 1, 2, ... of probability ``probs`` (in [0, 1)) or log-odds ``logits`` before
    ``total_count`` (a real number >= 0) failures. ``sample`` is a Poisson draw whose rate is a
    Gamma(total_count, exp(-logits)) draw (the backend generator's ``standard_gamma`` and ``poisson``)."""

    arg_constraints = {
        "total_count": constraints.greater_than_eq(0),
        "probs": constraints.half_open_interval(0.0, 1.0),
        "logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    def __init__(self, total_count: Any, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:  # fmt: skip
        key, value = probs_or_logits(probs, logits, "NegativeBinomial")
        self.total_count, param = broadcast_all(total_count, value, name="NegativeBinomial")
        self.__dict__[key] = param
        self._param_name = key
        super().__init__(param.shape, validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.total_count * ops.exp(self.logits)

    @property
    def mode(self) -> Tensor:
        return ops.maximum(ops.floor((self.total_count - 1) * ops.exp(self.logits)), 0.0)

    @property
    def variance(self) -> Tensor:
        return self.mean / ops.sigmoid(-self.logits)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        like = self._param
        with no_grad():
            concentration = full_array(self.total_count, shape, np.float64)
            gamma = generator_draw(like, "standard_gamma", "NegativeBinomial", concentration, shape)
            with _on(like._backend):
                xp = like._backend.xp
                scale = xp.exp(self.logits.detach()._data.astype(np.float64))
                tiny = float(np.finfo(like.dtype).tiny)
                rate = xp.maximum(gamma * scale, tiny)  # a Gamma(total_count, e^-logits) draw
            return wrap(generator_draw(like, "poisson", "NegativeBinomial", rate, shape), like, like.dtype)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        n, logits = self.total_count, self.logits
        log_unnormalized_prob = n * log_sigmoid(-logits) + value * log_sigmoid(logits)
        zero = (n + value) == 0  # the mass at 0 of total_count 0 is 1: no normaliser there
        empty = (n == 0) & (value > 0)  # and elsewhere 0 (lgamma(0) is inf)
        safe_sum = ops.where(zero, 1.0, n + value)
        safe_n = ops.where(n == 0, 1.0, n)  # finite in both branches, so the gradients are too
        log_normalization = -ops.lgamma(safe_sum) + ops.lgamma(1.0 + value) + ops.lgamma(safe_n)
        log_prob = ops.where(zero, log_unnormalized_prob, log_unnormalized_prob - log_normalization)
        return ops.where(empty, -math.inf, log_prob)
