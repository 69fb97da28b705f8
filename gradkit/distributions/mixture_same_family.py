"""``MixtureSameFamily(mixture_distribution, component_distribution)``: a mixture of k components of one
family, chosen by a Categorical (``torch.distributions.MixtureSameFamily``)."""

from __future__ import annotations

from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.autograd.grad_mode import no_grad
from gradkit.distributions import constraints
from gradkit.distributions.categorical import Categorical
from gradkit.distributions.distribution import Distribution
from gradkit.errors import ArgumentTypeError, ShapeError
from gradkit.ops.indexing import _along
from gradkit.tensor import Tensor

__all__ = ["MixtureSameFamily"]


class _MixtureSameFamilyConstraint(constraints.Constraint):
    """The values in ``base_constraint`` for every component: the value gets a component axis (before its
    event axes) and the check is reduced over it (PyTorch's ``MixtureSameFamilyConstraint``)."""

    def __init__(self, base_constraint: constraints.Constraint) -> None:
        self.base_constraint = base_constraint

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base_constraint.is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base_constraint.event_dim

    def check(self, value: Tensor) -> Tensor:
        event_dim = self.event_dim
        if value.ndim < event_dim:
            raise ShapeError(f"MixtureSameFamily: expected a value of at least {event_dim} dimensions, got "
                             f"{value.ndim}")  # fmt: skip
        result = self.base_constraint.check(ops.expand_dims(value, -1 - event_dim))
        keep = value.ndim - event_dim
        result = ops.reshape(result, tuple(result.shape[:keep]) + (-1,))
        return ops.all(result, axis=-1)

    def __repr__(self) -> str:
        return f"MixtureSameFamilyConstraint({self.base_constraint!r})"


class MixtureSameFamily(Distribution):
    """A mixture: ``mixture_distribution`` (a :class:`Categorical` over k components, of batch shape
    broadcasting to the mixture's) picks one of the components of ``component_distribution`` (any
    distribution whose rightmost batch axis, of size k, indexes the components). The mixture's batch shape
    is the components' without that axis; its event shape is theirs."""

    arg_constraints: dict[str, constraints.Constraint] = {}
    has_rsample = False

    def __init__(self, mixture_distribution: Categorical, component_distribution: Distribution,
                 validate_args: bool | None = None) -> None:  # fmt: skip
        if not isinstance(mixture_distribution, Categorical):
            raise ArgumentTypeError("MixtureSameFamily: the mixture distribution must be a Categorical, got "
                                    f"{type(mixture_distribution).__name__}")  # fmt: skip
        if not isinstance(component_distribution, Distribution):
            raise ArgumentTypeError("MixtureSameFamily: the component distribution must be a Distribution, got "
                                    f"{type(component_distribution).__name__}")  # fmt: skip
        cbs = component_distribution.batch_shape
        if not cbs:
            raise ShapeError("MixtureSameFamily: component_distribution must have at least one batch dimension "
                             "(its rightmost batch axis indexes the components)")  # fmt: skip
        mdbs, cdbs = mixture_distribution.batch_shape, cbs[:-1]
        try:
            fits = np.broadcast_shapes(mdbs, cdbs) == cdbs
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"MixtureSameFamily: `mixture_distribution.batch_shape` ({mdbs}) is not compatible "
                             f"with `component_distribution.batch_shape` ({cdbs})")  # fmt: skip
        km, kc = mixture_distribution._num_events, cbs[-1]
        if km != kc:
            raise ShapeError(f"MixtureSameFamily: `mixture_distribution` component ({km}) does not equal "
                             f"`component_distribution.batch_shape[-1]` ({kc})")  # fmt: skip
        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        self._num_component = km
        self._event_ndims = len(component_distribution.event_shape)
        super().__init__(cdbs, component_distribution.event_shape, validate_args=validate_args)

    def expand(self, batch_shape: Any, _instance: Any = None) -> Distribution:
        batch_shape = self._expanded_batch_shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        new._component_distribution = self._component_distribution.expand(batch_shape + (self._num_component,))
        new._mixture_distribution = self._mixture_distribution.expand(batch_shape)
        new._num_component = self._num_component
        new._event_ndims = self._event_ndims
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _param_like(self) -> Tensor:
        return self._component_distribution._param_like()

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return _MixtureSameFamilyConstraint(self._component_distribution.support)

    @property
    def mixture_distribution(self) -> Categorical:
        return self._mixture_distribution

    @property
    def component_distribution(self) -> Distribution:
        return self._component_distribution

    def _pad(self, x: Tensor) -> Tensor:
        """``x`` with a component axis before its event axes."""
        return ops.expand_dims(x, -1 - self._event_ndims)

    def _pad_mixture_dimensions(self, x: Tensor) -> Tensor:
        """Mixture weights (mixture batch + (k,)) with one axis per event axis after the component axis."""
        return ops.reshape(x, tuple(x.shape) + (1,) * self._event_ndims)

    @property
    def mean(self) -> Tensor:
        probs = self._pad_mixture_dimensions(self.mixture_distribution.probs)
        return ops.sum(probs * self.component_distribution.mean, axis=-1 - self._event_ndims)

    @property
    def variance(self) -> Tensor:
        probs = self._pad_mixture_dimensions(self.mixture_distribution.probs)
        axis = -1 - self._event_ndims
        mean_cond_var = ops.sum(probs * self.component_distribution.variance, axis=axis)
        var_cond_mean = ops.sum(probs * ops.square(self.component_distribution.mean - self._pad(self.mean)),
                                axis=axis)  # fmt: skip
        return mean_cond_var + var_cond_mean

    def cdf(self, value: Any) -> Tensor:
        value = self._pad(self._value(value, validate=False))
        cdf_x = self.component_distribution.cdf(value)
        return ops.sum(cdf_x * self.mixture_distribution.probs, axis=-1)

    def log_prob(self, value: Any) -> Tensor:
        value = self._pad(self._value(value))
        log_prob_x = self.component_distribution.log_prob(value)  # S + B + (k,)
        log_mix_prob = ops.log_softmax(self.mixture_distribution.logits, axis=-1)  # B + (k,)
        return ops.logsumexp(log_prob_x + log_mix_prob, axis=-1)

    def sample(self, sample_shape: Any = ()) -> Tensor:
        with no_grad():
            comp_samples = self.component_distribution.sample(sample_shape)  # S + B + (k,) + E
            mix_sample = self.mixture_distribution.sample(sample_shape)  # S + MB
            nb, ne = len(self._batch_shape), self._event_ndims
            ns = comp_samples.ndim - nb - 1 - ne
            outer = tuple(comp_samples.shape[:ns])
            mb = tuple(self.mixture_distribution.batch_shape)
            index = ops.reshape(mix_sample, outer + (1,) * (nb - len(mb)) + mb + (1,) * (1 + ne))
            index = ops.broadcast_to(index, outer + self._batch_shape + (1,) + self._event_shape)
            # the Categorical's draws index the components: no check (gather's reads the device)
            return ops.squeeze(_along(comp_samples, ns + nb, index._data, "gather"), ns + nb)

    def __repr__(self) -> str:
        return f"MixtureSameFamily(\n  {self.mixture_distribution!r},\n  {self.component_distribution!r})"
