"""``Binomial(total_count=1, probs=None, logits=None)``: the number of successes in ``total_count``
independent trials (``torch.distributions.Binomial``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.distributions import constraints
from gradkit.distributions._discrete import (
    BinaryParameter,
    arange_support,
    full_array,
    generator_draw,
    log_sigmoid,
    probs_or_logits,
    softplus,
    wrap,
)
from gradkit.distributions.distribution import Distribution, DistributionNotImplementedError
from gradkit.distributions.utils import broadcast_all
from gradkit.tensor import Tensor

__all__ = ["Binomial"]


def homogeneous_count(total_count: Tensor, name: str, what: str) -> int:
    """The one value of ``total_count`` (one host read: its least and greatest together), or
    DistributionNotImplementedError when it varies."""
    if not total_count.size:
        return 0
    with no_grad():
        low, high = (int(v) for v in ops.stack([ops.min(total_count), ops.max(total_count)]).tolist())
    if low != high:
        raise DistributionNotImplementedError(f"{name}: inhomogeneous total count not supported by `{what}`")
    return high


class Binomial(BinaryParameter, Distribution):
    """Counts 0..``total_count`` (a whole number >= 0, or a tensor of them broadcasting with the probabilities)
    of successes of probability ``probs`` (or log-odds ``logits``). ``total_count`` is held in the parameters'
    float dtype. ``sample`` draws from the backend generator's ``binomial``."""

    arg_constraints = {
        "total_count": constraints.nonnegative_integer,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    has_enumerate_support = True

    def __init__(self, total_count: Any = 1, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:  # fmt: skip
        key, value = probs_or_logits(probs, logits, "Binomial")
        self.total_count, param = broadcast_all(total_count, value, name="Binomial")
        self.__dict__[key] = param
        self._param_name = key
        super().__init__(param.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.probs

    @property
    def mode(self) -> Tensor:
        return ops.minimum(ops.floor((self.total_count + 1) * self.probs), self.total_count)

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            n = full_array(self.total_count, shape, np.int64)
            p = full_array(self.probs, shape, np.float64)
            return wrap(generator_draw(self._param, "binomial", "Binomial", n, p, shape), self._param,
                        self._param.dtype)  # fmt: skip

    def log_prob(self, value: Any) -> Tensor:
        return self._log_prob(self._value(value))

    def _log_prob(self, value: Tensor) -> Tensor:
        """log C(n, k) + k log sigmoid(logits) + (n - k) log sigmoid(-logits): PyTorch's k logits - n
        softplus(logits) written without its cancellation where k is near n and p near 1, and the binomial
        coefficient summed first, so that a log probability near 0 is not lost beside lgamma(n + 1) (at n = 1e6,
        p = 1e-12, k = 0 PyTorch's order gives -1.00024e-06 for n log1p(-p) = -1e-06; at p = 1 - 1e-12,
        k = n, its terms cancel to 3 digits)."""
        n, logits = self.total_count, self.logits
        log_factorial_n = ops.lgamma(n + 1)
        log_factorial_k = ops.lgamma(value + 1)
        log_factorial_nmk = ops.lgamma(n - value + 1)
        log_binomial = log_factorial_n - log_factorial_k - log_factorial_nmk
        log_prob = log_binomial + (value * log_sigmoid(logits) + (n - value) * log_sigmoid(-logits))
        # an infinite value (validation off) gets PyTorch's form: its -inf or NaN, where the one above has inf - inf
        pytorch = log_binomial + (value * logits - n * softplus(logits))
        return ops.where(ops.abs(value) == math.inf, pytorch, log_prob)

    def entropy(self) -> Tensor:
        n = homogeneous_count(self.total_count, "Binomial", "entropy")
        log_prob = self._log_prob(arange_support(n + 1, self._batch_shape, self._param, self._param.dtype, False))
        return -ops.sum(ops.exp(log_prob) * log_prob, axis=0)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        n = homogeneous_count(self.total_count, "Binomial", "enumerate_support")
        return arange_support(n + 1, self._batch_shape, self._param, self._param.dtype, expand)
