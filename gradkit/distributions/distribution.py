"""``Distribution``: the base class of every distribution (``torch.distributions.Distribution``'s contract).

Shapes follow PyTorch: a sample has shape ``sample_shape + batch_shape + event_shape``; ``log_prob`` of a value
of that shape is ``sample_shape + batch_shape``. With ``validate_args`` (on by default, as PyTorch's; see
:meth:`Distribution.set_default_validate_args`) the parameters are checked against ``arg_constraints`` when
the distribution is made and every value given to ``log_prob``/``cdf`` against ``support``: a value outside
raises ``InvalidArgumentError`` naming the distribution and the parameter (PyTorch raises ValueError; this is
one), a value whose shape does not fit ``ShapeError``. The checks read the device (one synchronisation on a
GPU) and are skipped while a CUDA graph is being captured.

To add a family: set ``arg_constraints`` (parameter name -> constraint), ``support``, ``has_rsample``; store
the parameters as tensors (``broadcast_all``) under their names and call ``super().__init__(batch_shape,
event_shape, validate_args=validate_args)`` last; write ``rsample`` (or ``sample``), ``log_prob`` (call
``value = self._value(value)`` first, which converts and validates), and whatever of ``mean``, ``mode``,
``variance``, ``cdf``, ``icdf``, ``entropy``, ``enumerate_support`` the family has. ``expand`` works as it
is for families whose tensors are their parameters (see :meth:`Distribution.expand`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit._args import flag
from gradkit.autograd.grad_mode import no_grad
from gradkit.distributions import constraints
from gradkit.distributions.utils import as_tensor_like, lazy_property, size_arg
from gradkit.errors import ArgumentTypeError, GradkitError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor

__all__ = ["Distribution", "DistributionNotImplementedError"]


def _given_parameter(d: Any) -> str | None:
    """The name of the parameter given to a family that takes one of two forms (``probs`` or ``logits``), found
    through the distributions it wraps (OneHotCategorical's Categorical, RelaxedBernoulli's base); None if none."""
    while d is not None:
        name = d.__dict__.get("_param_name")
        if name is not None:
            return name
        d = d.__dict__.get("_categorical") or d.__dict__.get("base_dist")
    return None


class DistributionNotImplementedError(GradkitError, NotImplementedError):
    """What a distribution does not define (an ``rsample``, an ``entropy``, a KL divergence between two
    families): a ``NotImplementedError``, as PyTorch raises, and a ``GradkitError``."""


def _checks_allowed(t: Any) -> bool:
    """Validation reads the device: skipped while a CUDA graph is being captured."""
    from gradkit.ops._util import host_read_allowed

    return host_read_allowed(t._data) if isinstance(t, Tensor) else True


def _param_text(value: Any) -> str:
    """How ``repr`` shows a parameter: the number for one element, the shape otherwise (PyTorch's rule)."""
    if isinstance(value, Tensor):
        if value.size == 1:
            return str(value.item()) if value.ndim == 0 else repr(value)
        return str(tuple(value.shape))
    return repr(value)


class Distribution:
    """The base class of gradkit's probability distributions (PyTorch's ``Distribution``)."""

    has_rsample = False
    has_enumerate_support = False
    _validate_args = True  # the default, set by set_default_validate_args; an instance may override it
    #: Attributes besides the parameters that hold tensors of batch_shape + (event part), expanded by expand().
    _batch_attributes: tuple[str, ...] = ()

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn validation on or off for distributions made from now on without ``validate_args=``."""
        Distribution._validate_args = flag(value, "Distribution.set_default_validate_args", "value")

    def __init__(self, batch_shape: Any = (), event_shape: Any = (), validate_args: bool | None = None) -> None:
        name = type(self).__name__
        self._batch_shape = size_arg(batch_shape, name, "batch_shape")
        self._event_shape = size_arg(event_shape, name, "event_shape")
        if validate_args is not None:
            self._validate_args = flag(validate_args, name, "validate_args")
        if self._validate_args:
            self._check_parameters()

    def _check_parameters(self) -> None:
        try:
            arg_constraints = self.arg_constraints
        except NotImplementedError:
            arg_constraints = {}
            warnings.warn(f"{type(self).__name__} does not define `arg_constraints`. Please set `arg_constraints "
                          "= {}` or make the distribution with `validate_args=False` to turn off validation.",
                          stacklevel=3)  # fmt: skip
        checks = []  # (parameter, constraint, value, check result)
        every: Any = True  # every check's all() combined on the device: read once (one synchronisation)
        for param, constraint in arg_constraints.items():
            if constraints.is_dependent(constraint):
                continue  # cannot be checked on its own
            if param not in self.__dict__ and isinstance(getattr(type(self), param, None), lazy_property):
                continue  # not computed yet: checking it would compute it
            value = getattr(self, param)
            if not isinstance(value, Tensor) or not _checks_allowed(value):
                continue
            valid = constraint.check(value)
            checks.append((param, constraint, value, valid))
            if every is False:
                continue
            if isinstance(valid, Tensor) and (every is True or every._backend is valid._backend):
                every = ops.all(valid) if every is True else every & ops.all(valid)
            elif not constraints._all_true(valid):
                every = False
        if every is True or (every is not False and constraints._all_true(every)):
            return
        given = _given_parameter(self)  # (probs or logits: the one given is named when both fail)
        checks.sort(key=lambda check: check[0] != given)
        for param, constraint, value, valid in checks:  # one failed: find it (more reads, on the error path only)
            if not constraints._all_true(valid):
                raise InvalidArgumentError(
                    f"{type(self).__name__}: expected parameter {param} (Tensor of shape {tuple(value.shape)}) of "
                    f"distribution {self!r} to satisfy the constraint {constraint!r}, but found invalid values:\n"
                    f"{value}"
                )

    # ------------------------------------------------------------------ shapes
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The shape over which the parameters are batched."""
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one sample (without batching)."""
        return self._event_shape

    def _extended_shape(self, sample_shape: Any = ()) -> tuple[int, ...]:
        """``sample_shape + batch_shape + event_shape``."""
        return size_arg(sample_shape, type(self).__name__) + self._batch_shape + self._event_shape

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        """The constraint each parameter must satisfy (parameter name -> Constraint)."""
        raise DistributionNotImplementedError(f"{type(self).__name__} does not define arg_constraints")

    @property
    def support(self) -> constraints.Constraint:
        """The constraint the values of this distribution satisfy."""
        raise DistributionNotImplementedError(f"{type(self).__name__} does not define support")

    # ------------------------------------------------------------------ moments
    @property
    def mean(self) -> Tensor:
        raise DistributionNotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def mode(self) -> Tensor:
        raise DistributionNotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise DistributionNotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self) -> Tensor:
        return ops.sqrt(self.variance)

    # ------------------------------------------------------------------ sampling and densities
    def sample(self, sample_shape: Any = ()) -> Tensor:
        """A sample of shape ``sample_shape + batch_shape + event_shape``, outside the graph."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Any = ()) -> Tensor:
        """A reparameterised sample: gradients flow back to the parameters."""
        raise DistributionNotImplementedError(f"{type(self).__name__} does not implement rsample "
                                              "(it has no reparameterised sampler; use sample)")  # fmt: skip

    def log_prob(self, value: Any) -> Tensor:
        """The log density (or mass) at ``value``."""
        raise DistributionNotImplementedError(f"{type(self).__name__} does not implement log_prob")

    def cdf(self, value: Any) -> Tensor:
        """The cumulative distribution function at ``value``."""
        raise DistributionNotImplementedError(f"{type(self).__name__} does not implement cdf")

    def icdf(self, value: Any) -> Tensor:
        """The inverse cumulative distribution function at ``value`` (a probability)."""
        raise DistributionNotImplementedError(f"{type(self).__name__} does not implement icdf")

    def entropy(self) -> Tensor:
        """The entropy, of shape ``batch_shape``."""
        raise DistributionNotImplementedError(f"{type(self).__name__} does not implement entropy")

    def perplexity(self) -> Tensor:
        """``exp(entropy())``."""
        return ops.exp(self.entropy())

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """Every value of a discrete distribution along a new first axis (of shape ``(n,) + batch_shape +
        event_shape`` with ``expand``, else ``(n,) + (1,) * len(batch_shape) + event_shape``)."""
        raise DistributionNotImplementedError(f"{type(self).__name__} does not implement enumerate_support")

    # ------------------------------------------------------------------ expand
    def _get_checked_instance(self, cls: type, _instance: Any = None) -> Any:
        """A new empty instance of ``type(self)`` for ``expand`` (or ``_instance`` when a subclass gives one)."""
        if _instance is None and type(self).__init__ is not cls.__init__ and type(self).expand is cls.expand:
            raise DistributionNotImplementedError(
                f"Subclass {type(self).__name__} of {cls.__name__} that defines a custom __init__ method must "
                "also define a custom .expand() method."
            )
        return self.__new__(type(self)) if _instance is None else _instance

    def _expanded_batch_shape(self, batch_shape: Any) -> tuple[int, ...]:
        name = type(self).__name__
        batch_shape = size_arg(batch_shape, f"{name}.expand", "batch_shape")
        try:
            fits = np.broadcast_shapes(self._batch_shape, batch_shape) == batch_shape
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"{name}.expand: cannot expand batch_shape {self._batch_shape} to {batch_shape}")
        return batch_shape

    def expand(self, batch_shape: Any, _instance: Any = None) -> Distribution:
        """A distribution of the same family with its batch axes broadcast to ``batch_shape`` (no copy).

        The parameters (the tensors named in ``arg_constraints`` that are set on the instance) and the
        attributes named in ``_batch_attributes`` are broadcast; other attributes are shared; cached
        ``lazy_property`` values are dropped (computed again when read). A family holding other tensors of
        batch shape overrides this (or lists them in ``_batch_attributes``). Nothing is validated again.
        """
        batch_shape = self._expanded_batch_shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        self._copy_expanded(new, batch_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _copy_expanded(self, new: Distribution, batch_shape: tuple[int, ...]) -> None:
        """Copy ``self``'s attributes that ``new`` does not have yet onto it: the parameters and
        ``_batch_attributes`` broadcast to ``batch_shape``, cached lazy_property values left out."""
        cls = type(self)
        try:
            params = set(self.arg_constraints)
        except NotImplementedError:
            params = set()
        params.update(self._batch_attributes)
        nb = len(self._batch_shape)
        for key, value in self.__dict__.items():
            if key in new.__dict__:
                continue
            if key in params and isinstance(value, Tensor):
                value = ops.broadcast_to(value, batch_shape + tuple(value.shape[nb:]))
            elif isinstance(getattr(cls, key, None), lazy_property):
                continue
            new.__dict__[key] = value

    # ------------------------------------------------------------------ values
    def _param_like(self) -> Tensor:
        """A parameter tensor whose dtype and device values are given (the first one set)."""
        try:
            names = list(self.arg_constraints)
        except NotImplementedError:
            names = []
        for key in names + list(self.__dict__):
            value = self.__dict__.get(key)
            if isinstance(value, Tensor):
                return value
        base = self.__dict__.get("base_dist")
        if isinstance(base, Distribution):
            return base._param_like()
        raise DistributionNotImplementedError(f"{type(self).__name__} holds no tensor to take a dtype from")

    def _value(self, value: Any, validate: bool = True) -> Tensor:
        """``value`` as a tensor on the distribution's device (numbers and integer data in its dtype),
        validated against the shapes and the support when ``validate_args`` is on."""
        value = as_tensor_like(value, self._param_like(), type(self).__name__)
        if validate and self._validate_args:
            self._validate_sample(value)
        return value

    def _validate_sample(self, value: Any) -> None:
        """Check that ``value`` fits ``event_shape``, broadcasts with ``batch_shape + event_shape`` and lies in
        ``support`` (ShapeError, InvalidArgumentError)."""
        name = type(self).__name__
        if not isinstance(value, Tensor):
            raise ArgumentTypeError(f"{name}: the value argument must be a Tensor, got {type(value).__name__}")
        event = self._event_shape
        shape = tuple(value.shape)
        if len(shape) < len(event) or shape[len(shape) - len(event):] != event:
            raise ShapeError(f"{name}: the right-most size of value must match event_shape: {shape} vs {event}")
        expected = self._batch_shape + event
        for i, j in zip(reversed(shape), reversed(expected), strict=False):
            if i != 1 and j != 1 and i != j:
                raise ShapeError(f"{name}: value is not broadcastable with batch_shape+event_shape: {shape} vs "
                                 f"{expected}")  # fmt: skip
        try:
            support = self.support
        except NotImplementedError:
            warnings.warn(f"{name} does not define `support` to enable sample validation. Please make the "
                          "distribution with `validate_args=False` to turn off validation.", stacklevel=3)  # fmt: skip
            return
        if not _checks_allowed(value):
            return
        if not constraints._all_true(support.check(value)):
            raise InvalidArgumentError(
                f"{name}: expected value argument (Tensor of shape {shape}) to be within the support "
                f"({support!r}) of the distribution {self!r}, but found invalid values:\n{value}"
            )

    def __repr__(self) -> str:
        try:
            names = [k for k in self.arg_constraints if k in self.__dict__]
        except NotImplementedError:
            names = []
        args = ", ".join(f"{k}: {_param_text(self.__dict__[k])}" for k in names)
        return f"{type(self).__name__}({args})"
