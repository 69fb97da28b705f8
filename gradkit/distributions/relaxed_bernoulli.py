"""``RelaxedBernoulli(temperature, probs=None, logits=None)`` and ``LogitRelaxedBernoulli``: the binary
Concrete / Gumbel-softmax relaxation of a Bernoulli (Maddison et al. 2017, Jang et al. 2017;
``torch.distributions.RelaxedBernoulli``, ``LogitRelaxedBernoulli``), with reparameterised samples."""

from __future__ import annotations

from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions._discrete import BinaryParameter, probs_or_logits, softplus
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import SigmoidTransform
from gradkit.distributions.utils import (
    _standard_uniform,
    clamp_probs,
    promote_all,
)
from gradkit.tensor import Tensor

__all__ = ["LogitRelaxedBernoulli", "RelaxedBernoulli"]


class LogitRelaxedBernoulli(BinaryParameter, Distribution):
    """The logit of a RelaxedBernoulli: (logit(u) + logits) / temperature for a uniform u, on the real line.
    ``temperature`` (a tensor or number; not broadcast into the batch shape) and ``probs`` or ``logits``."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:  # fmt: skip
        key, value = probs_or_logits(probs, logits, "LogitRelaxedBernoulli")
        self.temperature, param = promote_all(temperature, value, name="LogitRelaxedBernoulli")
        self.__dict__[key] = param
        self._param_name = key
        super().__init__(param.shape, validate_args=validate_args)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        probs = clamp_probs(ops.broadcast_to(self.probs, shape))
        u = clamp_probs(_standard_uniform(shape, probs))
        return (ops.log(u) - ops.log1p(-u) + ops.log(probs) - ops.log1p(-probs)) / self.temperature

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        diff = self.logits - value * self.temperature
        return ops.log(self.temperature) + diff - 2 * softplus(diff)


class RelaxedBernoulli(TransformedDistribution):
    """Values in (0, 1): the sigmoid of a :class:`LogitRelaxedBernoulli` (``temperature`` and ``probs`` or
    ``logits``); low temperatures put the mass near 0 and 1."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:  # fmt: skip
        base = LogitRelaxedBernoulli(temperature, probs, logits, validate_args=False)
        super().__init__(base, SigmoidTransform(), validate_args=validate_args)  # checks probs/logits
        self._share_validation(base)

    @property
    def temperature(self) -> Tensor:
        return self.base_dist.temperature

    @property
    def logits(self) -> Tensor:
        return self.base_dist.logits

    @property
    def probs(self) -> Tensor:
        return self.base_dist.probs
