"""``RelaxedOneHotCategorical(temperature, probs=None, logits=None)`` and ``ExpRelaxedCategorical``: the
Concrete / Gumbel-softmax relaxation of a one-hot categorical (Maddison et al. 2017, Jang et al. 2017;
``torch.distributions.RelaxedOneHotCategorical``, ``ExpRelaxedCategorical``), with reparameterised samples."""

from __future__ import annotations

import math
from typing import Any

import gradkit.ops as ops
from gradkit.distributions import constraints
from gradkit.distributions._discrete import CategoricalParameter, probs_or_logits, share_validation
from gradkit.distributions.categorical import Categorical
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.transformed_distribution import TransformedDistribution
from gradkit.distributions.transforms import ExpTransform
from gradkit.distributions.utils import _standard_uniform, clamp_probs, promote_all
from gradkit.tensor import Tensor

__all__ = ["ExpRelaxedCategorical", "RelaxedOneHotCategorical"]


class ExpRelaxedCategorical(CategoricalParameter, Distribution):
    """The log of a RelaxedOneHotCategorical sample: log_softmax((logits + Gumbel noise) / temperature) over
    the K categories (event shape (K,)). ``temperature`` (a tensor or number, not broadcast into the batch
    shape) and ``probs`` or ``logits`` as :class:`Categorical` takes them."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.real_vector  # the values lie on a submanifold of it
    has_rsample = True

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:  # fmt: skip
        key, value = probs_or_logits(probs, logits, "ExpRelaxedCategorical")
        self.temperature, param = promote_all(temperature, value, name="ExpRelaxedCategorical")
        self._categorical = Categorical(**{key: param}, validate_args=False)  # checked here, under this name
        cat = self._categorical
        super().__init__(cat.batch_shape, cat.param_shape[-1:], validate_args=validate_args)
        share_validation(self, cat)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Distribution:
        batch_shape = self._expanded_batch_shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        new.temperature = self.temperature
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        logits = self.logits
        u = clamp_probs(_standard_uniform(shape, logits))
        gumbels = -ops.log(-ops.log(u))
        scores = (logits + gumbels) / self.temperature
        return scores - ops.logsumexp(scores, axis=-1, keepdims=True)

    def log_prob(self, value: Any) -> Tensor:
        k = self._categorical._num_events
        value = self._value(value)
        log_scale = math.lgamma(k) + (k - 1) * ops.log(self.temperature)
        score = self.logits - value * self.temperature
        score = ops.sum(score - ops.logsumexp(score, axis=-1, keepdims=True), axis=-1)
        return score + log_scale


class RelaxedOneHotCategorical(TransformedDistribution):
    """Points of the simplex (event shape (K,)): the exp of an :class:`ExpRelaxedCategorical`
    (``temperature`` and ``probs`` or ``logits``); low temperatures put the mass near the one-hot vertices."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, temperature: Any, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:  # fmt: skip
        base = ExpRelaxedCategorical(temperature, probs, logits, validate_args=False)
        super().__init__(base, ExpTransform(), validate_args=validate_args)  # checks probs/logits
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
