"""``Categorical(probs=None, logits=None)``: integer values 0..K-1 with the probabilities along the last axis
of ``probs`` (or ``softmax(logits)``) (``torch.distributions.Categorical``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.creation import full
from gradkit.distributions import constraints
from gradkit.distributions._discrete import (
    GivenParameter,
    arange_support,
    categorical_indices,
    probs_or_logits,
    uniform64,
)
from gradkit.distributions.distribution import Distribution
from gradkit.distributions.utils import lazy_property, logits_to_probs, probs_to_logits, promote_all
from gradkit.errors import ShapeError
from gradkit.ops.indexing import _along
from gradkit.tensor import Tensor

__all__ = ["Categorical"]


class Categorical(GivenParameter, Distribution):
    """K categories along the last axis of ``probs`` (non-negative, normalised here to sum to 1) or
    ``logits`` (unnormalised log probabilities, normalised here by their logsumexp); the axes before it are
    batch axes. Samples are int64 indices (``sample`` draws one uniform per index: the inverse CDF)."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    def __init__(self, probs: Any = None, logits: Any = None, validate_args: bool | None = None) -> None:
        key, value = probs_or_logits(probs, logits, "Categorical")
        (param,) = promote_all(value, name="Categorical")
        if param.ndim < 1:
            raise ShapeError(f"Categorical: the `{key}` parameter must be at least one-dimensional, got shape "
                             f"{tuple(param.shape)}")  # fmt: skip
        if key == "probs":
            param = param / ops.sum(param, axis=-1, keepdims=True)
        else:
            param = param - ops.logsumexp(param, axis=-1, keepdims=True)
        self.__dict__[key] = param
        self._param_name = key
        self._num_events = param.shape[-1]
        super().__init__(param.shape[:-1], validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.integer_interval(0, self._num_events - 1)

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits)

    @property
    def mean(self) -> Tensor:
        return full(self._extended_shape(), math.nan, dtype=self._param.dtype, device=self._param._backend)

    @property
    def mode(self) -> Tensor:
        return ops.argmax(self.probs, axis=-1)

    @property
    def variance(self) -> Tensor:
        return full(self._extended_shape(), math.nan, dtype=self._param.dtype, device=self._param._backend)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            probs = self.probs.detach()
            return categorical_indices(probs, uniform64(shape, probs))

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        # a validated value is known to index the categories: no second read of the device for gather's check
        return self._log_prob_index(ops.astype(value, np.int64), in_range=self._validate_args)

    def _log_prob_index(self, index: Tensor, in_range: bool = False) -> Tensor:
        """log P(index) for int64 indices (no validation), broadcast with the batch. ``in_range``: the indices
        are known to lie in 0..K-1, so they are not checked (gather's check reads the device: a
        synchronisation on a GPU); otherwise one out of range raises IndexOutOfRangeError, as PyTorch's."""
        logits = self.logits
        shape = np.broadcast_shapes(tuple(index.shape) + (1,), tuple(logits.shape))
        index = ops.broadcast_to(ops.expand_dims(index, -1), shape[:-1] + (1,))
        if tuple(logits.shape) != shape:
            logits = ops.broadcast_to(logits, shape)
        if in_range:
            picked = _along(logits, logits.ndim - 1, index._data, "gather")
        else:
            picked = ops.gather(logits, -1, index)
        return ops.squeeze(picked, -1)

    def entropy(self) -> Tensor:
        logits = ops.maximum(self.logits, float(np.finfo(self.logits.dtype).min))
        return -ops.sum(logits * self.probs, axis=-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        return arange_support(self._num_events, self._batch_shape, self._param, np.int64, expand)
