"""``Multinomial(total_count=1, probs=None, logits=None)``: the counts of K categories in ``total_count``
independent categorical draws (``torch.distributions.Multinomial``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.creation import _on
from gradkit.distributions import constraints
from gradkit.distributions._discrete import (
    CategoricalParameter,
    arange_support,
    generator_draw,
    probs_or_logits,
    share_validation,
    wrap,
)
from gradkit.distributions.binomial import Binomial
from gradkit.distributions.categorical import Categorical
from gradkit.distributions.distribution import Distribution, DistributionNotImplementedError
from gradkit.errors import InvalidArgumentError
from gradkit.tensor import Tensor

__all__ = ["Multinomial"]


class Multinomial(CategoricalParameter, Distribution):
    """Count vectors (event shape (K,)) of ``total_count`` draws (one int shared by the whole batch) from the
    categories of ``probs`` or ``logits`` (as :class:`Categorical` takes them). ``log_prob`` takes any
    total per value (it reads the count from the value); ``sample`` draws K - 1 conditional binomials from
    the backend generator (count_k ~ Binomial(left, p_k / (p_k + ... + p_K)))."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, total_count: Any = 1, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:  # fmt: skip
        if isinstance(total_count, (bool, np.bool_)) or not isinstance(total_count, (int, np.integer)):
            raise DistributionNotImplementedError("Multinomial: inhomogeneous total_count is not supported (it "
                                                  f"must be one int, got {type(total_count).__name__})")  # fmt: skip
        if total_count < 0:
            raise InvalidArgumentError(f"Multinomial: total_count must be >= 0, got {total_count}")
        self.total_count = int(total_count)
        probs_or_logits(probs, logits, "Multinomial")
        self._categorical = Categorical(probs, logits, validate_args=False)  # checked here, under this name
        cat = self._categorical
        super().__init__(cat.batch_shape, cat.param_shape[-1:], validate_args=validate_args)
        share_validation(self, cat)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Distribution:
        batch_shape = self._expanded_batch_shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.multinomial(self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.probs * self.total_count

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)  # S + B + (K,)
        outer = shape[:-1]
        k = shape[-1]
        with no_grad():
            probs = self.probs.detach()
            backend = probs._backend
            xp = backend.xp
            with _on(backend):
                p = probs._data.astype(np.float64)
                tail = xp.flip(xp.cumsum(xp.flip(p, axis=-1), axis=-1), axis=-1)  # p_k + ... + p_K
                left = xp.full(outer, self.total_count, dtype=np.int64)
                counts = xp.empty(shape, dtype=np.int64)
                for i in range(k - 1):
                    rest = tail[..., i]
                    ratio = xp.where(rest > 0, p[..., i] / xp.where(rest > 0, rest, 1.0), 0.0)
                    ratio = xp.broadcast_to(xp.clip(ratio, 0.0, 1.0), outer).copy()
                    drawn = generator_draw(probs, "binomial", "Multinomial", left, ratio, outer)
                    counts[..., i] = drawn
                    left = left - drawn
                if k:
                    counts[..., k - 1] = left
            return wrap(counts, probs, probs.dtype)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value)
        logits = self.logits
        shape = np.broadcast_shapes(tuple(logits.shape), tuple(value.shape))
        logits = ops.broadcast_to(logits, shape) if tuple(logits.shape) != shape else logits
        log_factorial_n = ops.lgamma(ops.sum(value, axis=-1) + 1)
        log_factorial_xs = ops.sum(ops.lgamma(value + 1), axis=-1)
        logits = ops.where((value == 0) & (logits == -math.inf), 0.0, logits)
        log_powers = ops.sum(logits * value, axis=-1)
        return log_factorial_n - log_factorial_xs + log_powers

    def entropy(self) -> Tensor:
        n = self.total_count
        cat_entropy = self._categorical.entropy()
        term1 = n * cat_entropy - math.lgamma(n + 1)
        binomial = Binomial(n, probs=self.probs, validate_args=False)
        # the count is known: no read of the device for Binomial's check that it is one
        support = arange_support(n + 1, binomial.batch_shape, binomial._param, binomial._param.dtype, False)[1:]
        binomial_probs = ops.exp(binomial._log_prob(support))
        weights = ops.lgamma(support + 1)
        term2 = ops.sum(binomial_probs * weights, axis=(0, -1))
        return term1 + term2
