"""``OneHotCategorical(probs=None, logits=None)``: a Categorical whose values are one-hot vectors, and
``OneHotCategoricalStraightThrough``, its reparameterised form by the straight-through estimator
(``torch.distributions.OneHotCategorical``, ``OneHotCategoricalStraightThrough``)."""

from __future__ import annotations

from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.distributions import constraints
from gradkit.distributions._discrete import (
    CategoricalParameter,
    arange_support,
    one_hot,
    probs_or_logits,
    share_validation,
)
from gradkit.distributions.categorical import Categorical
from gradkit.distributions.distribution import Distribution
from gradkit.tensor import Tensor

__all__ = ["OneHotCategorical", "OneHotCategoricalStraightThrough"]


class OneHotCategorical(CategoricalParameter, Distribution):
    """One-hot vectors of length K (the event shape (K,)) with the probabilities of ``probs`` or ``logits``
    (as :class:`Categorical` takes them)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None) -> None:
        probs_or_logits(probs, logits, "OneHotCategorical")
        self._categorical = Categorical(probs, logits, validate_args=False)  # checked here, under this name
        cat = self._categorical
        super().__init__(cat.batch_shape, cat.param_shape[-1:], validate_args=validate_args)
        share_validation(self, cat)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Distribution:
        batch_shape = self._expanded_batch_shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def _param(self) -> Tensor:
        return self._categorical._param

    @property
    def mean(self) -> Tensor:
        return self._categorical.probs

    @property
    def mode(self) -> Tensor:
        probs = self._categorical.probs
        return one_hot(ops.argmax(probs, axis=-1), probs.shape[-1], probs.dtype)

    @property
    def variance(self) -> Tensor:
        probs = self._categorical.probs
        return probs * (1 - probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        with no_grad():
            index = self._categorical.sample(sample_shape)
            return one_hot(index, self._categorical._num_events, self._categorical._param.dtype)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        # argmax over at most K entries is an index of the categories: nothing to check on the device
        in_range = value.shape[-1] <= self._categorical._num_events if value.ndim else True
        return self._categorical._log_prob_index(ops.argmax(value, axis=-1), in_range=in_range)

    def entropy(self) -> Tensor:
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        n = self._event_shape[0]
        param = self._categorical._param
        eye = one_hot(arange_support(n, (), param, np.int64, False), n, param.dtype)
        values = ops.reshape(eye, (n,) + (1,) * len(self._batch_shape) + (n,))
        return ops.broadcast_to(values, (n,) + self._batch_shape + (n,)) if expand else values


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """OneHotCategorical with ``rsample``: the one-hot sample in the forward pass, the gradient of the
    probabilities in the backward pass (straight-through, Bengio et al. 2013)."""

    has_rsample = True

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        samples = self.sample(sample_shape)
        probs = self._categorical.probs
        return samples + (probs - probs.detach())
