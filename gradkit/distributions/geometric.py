"""``Geometric(probs=None, logits=None)``: the number of failures before the first success
(``torch.distributions.Geometric``): P(k) = (1 - p)^k p, k = 0, 1, ..."""

from __future__ import annotations

from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.creation import _on, zeros_like
from gradkit.distributions import constraints
from gradkit.distributions._discrete import bce_with_logits, probs_or_logits
from gradkit.distributions.distribution import Distribution, _checks_allowed
from gradkit.distributions.utils import (
    _standard_uniform,
    broadcast_all,
    lazy_property,
    logits_to_probs,
    probs_to_logits,
)
from gradkit.errors import InvalidArgumentError
from gradkit.tensor import Tensor

__all__ = ["Geometric"]


class Geometric(Distribution):
    """Failures 0, 1, 2, ... before the first success of probability ``probs`` (in (0, 1]) or log-odds
    ``logits``. ``sample`` is floor(log(u) / log(1 - p)) of a uniform u."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None) -> None:
        key, value = probs_or_logits(probs, logits, "Geometric")
        (param,) = broadcast_all(value, name="Geometric")
        self.__dict__[key] = param
        super().__init__(param.shape, validate_args=validate_args)
        if self._validate_args and key == "probs" and _checks_allowed(param):
            if not bool(ops.all(param > 0).item()):
                raise InvalidArgumentError(
                    f"Geometric: expected parameter probs (Tensor of shape {tuple(param.shape)}) of distribution "
                    f"{self!r} to be positive but found invalid values:\n{param}"
                )

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits, is_binary=True)

    @property
    def mean(self) -> Tensor:
        return 1.0 / self.probs - 1.0

    @property
    def mode(self) -> Tensor:
        return zeros_like(self.probs)

    @property
    def variance(self) -> Tensor:
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            probs = self.probs.detach()
            u = _standard_uniform(shape, probs)._data
            xp = probs._backend.xp
            with _on(probs._backend), np.errstate(divide="ignore", invalid="ignore"):
                u = xp.maximum(u, float(np.finfo(probs.dtype).tiny))  # in [tiny, 1)
                x = xp.floor(xp.log(u) / xp.log1p(-probs._data)) + 0.0  # p = 1: log1p(-1) = -inf, x = 0 (not -0)
            return Tensor._make(x, probs._backend)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        probs = self.probs
        safe = ops.where((probs == 1) & (value == 0), 0.0, probs)  # 0 * log(0) is 0 here
        return value * ops.log1p(-safe) + ops.log(probs)

    def entropy(self) -> Tensor:
        return bce_with_logits(self.logits, self.probs) / self.probs
