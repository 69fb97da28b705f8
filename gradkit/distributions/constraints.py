"""Constraints: the regions a distribution's parameters and values live in (``torch.distributions.constraints``).

Each constraint's ``check(value)`` returns a bool tensor of ``value``'s shape less the constraint's ``event_dim``
rightmost axes (an event is valid only when all of its entries are). ``is_discrete`` and ``event_dim`` are
class attributes, as PyTorch's; the public names are instances (``real``, ``positive``, ``simplex``, ...) or,
for the constraints with arguments, the classes (``interval(0, 1)``, ``greater_than(2.0)``,
``independent(real, 1)``, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.creation import full
from gradkit.errors import ArgumentTypeError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor

__all__ = [
    "Constraint", "boolean", "cat", "corr_cholesky", "dependent", "dependent_property", "greater_than",
    "greater_than_eq", "half_open_interval", "independent", "integer_interval", "interval", "is_dependent",
    "less_than", "lower_cholesky", "lower_triangular", "multinomial", "nonnegative", "nonnegative_integer",
    "one_hot", "positive", "positive_definite", "positive_integer", "positive_semidefinite", "real",
    "real_vector", "simplex", "square", "stack", "symmetric", "unit_interval",
]


def _all_true(valid: Any) -> bool:
    """True when every element of a check's result holds (one host read on a GPU)."""
    if isinstance(valid, Tensor):
        return bool(ops.all(valid).item())
    return bool(np.all(valid))


def _all_last(t: Tensor, n: int = 1) -> Tensor:
    """``t`` reduced with ``all`` over its ``n`` rightmost axes."""
    if n == 0:
        return t
    return ops.all(t, axis=tuple(range(-n, 0)))


class Constraint:
    """A region of values. ``check(value)`` is a bool tensor of ``value.shape[:value.ndim - event_dim]``."""

    is_discrete = False
    event_dim = 0

    def check(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.check is not implemented")

    def __repr__(self) -> str:
        return type(self).__name__[1:] + "()"


class _Dependent(Constraint):
    """A placeholder for parameters whose region depends on other parameters (``Uniform``'s ``low`` and
    ``high``): validation skips them. ``is_discrete``/``event_dim`` raise NotImplementedError unless given."""

    def __init__(self, *, is_discrete: Any = NotImplemented, event_dim: Any = NotImplemented) -> None:
        self._is_discrete = is_discrete
        self._event_dim = event_dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        if self._is_discrete is NotImplemented:
            raise NotImplementedError(".is_discrete cannot be determined statically")
        return self._is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        if self._event_dim is NotImplemented:
            raise NotImplementedError(".event_dim cannot be determined statically")
        return self._event_dim

    def __call__(self, *, is_discrete: Any = NotImplemented, event_dim: Any = NotImplemented) -> _Dependent:
        """``dependent(is_discrete=True, event_dim=1)``: a dependent constraint with these attributes."""
        if is_discrete is NotImplemented:
            is_discrete = self._is_discrete
        if event_dim is NotImplemented:
            event_dim = self._event_dim
        return _Dependent(is_discrete=is_discrete, event_dim=event_dim)

    def check(self, value: Tensor) -> Tensor:
        raise InvalidArgumentError("Cannot determine validity of dependent constraint")


def is_dependent(constraint: Any) -> bool:
    """True for a dependent constraint (one that validation cannot check)."""
    return isinstance(constraint, _Dependent)


class _DependentProperty(property, _Dependent):
    """``@constraints.dependent_property``: a property on instances (``Uniform(...).support`` is an
    ``interval``), a dependent constraint on the class (``Uniform.support``)."""

    def __init__(self, fn: Any = None, *, is_discrete: Any = NotImplemented, event_dim: Any = NotImplemented) -> None:
        property.__init__(self, fn)
        self._is_discrete = is_discrete
        self._event_dim = event_dim

    def __call__(self, fn: Any) -> _DependentProperty:  # type: ignore[override]
        """``@dependent_property(is_discrete=False, event_dim=0)`` decorating a method."""
        return _DependentProperty(fn, is_discrete=self._is_discrete, event_dim=self._event_dim)


class _IndependentConstraint(Constraint):
    """``base_constraint`` with ``reinterpreted_batch_ndims`` more rightmost axes counted as one event."""

    def __init__(self, base_constraint: Constraint, reinterpreted_batch_ndims: int) -> None:
        if not isinstance(base_constraint, Constraint):
            raise ArgumentTypeError(f"independent: base_constraint must be a Constraint, got "
                                    f"{type(base_constraint).__name__}")  # fmt: skip
        if isinstance(reinterpreted_batch_ndims, bool) or not isinstance(reinterpreted_batch_ndims, (int, np.integer)):
            raise ArgumentTypeError(f"independent: reinterpreted_batch_ndims must be an int, got "
                                    f"{type(reinterpreted_batch_ndims).__name__}")  # fmt: skip
        if reinterpreted_batch_ndims < 0:
            raise InvalidArgumentError(f"independent: reinterpreted_batch_ndims must be >= 0, got "
                                       f"{reinterpreted_batch_ndims}")  # fmt: skip
        self.base_constraint = base_constraint
        self.reinterpreted_batch_ndims = int(reinterpreted_batch_ndims)

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base_constraint.is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base_constraint.event_dim + self.reinterpreted_batch_ndims

    def check(self, value: Tensor) -> Tensor:
        result = self.base_constraint.check(value)
        if result.ndim < self.reinterpreted_batch_ndims:
            raise ShapeError(f"independent: expected a value of at least {self.event_dim} dimensions, got "
                             f"{value.ndim}")  # fmt: skip
        return _all_last(result, self.reinterpreted_batch_ndims)

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}({self.base_constraint!r}, {self.reinterpreted_batch_ndims})"


class _Boolean(Constraint):
    """The two values 0 and 1."""

    is_discrete = True

    def check(self, value: Tensor) -> Tensor:
        return (value == 0) | (value == 1)


class _OneHot(Constraint):
    """One-hot vectors (0s and a single 1 along the last axis)."""

    is_discrete = True
    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        is_boolean = (value == 0) | (value == 1)
        return _all_last(is_boolean) & (ops.sum(value, axis=-1) == 1)


class _IntegerInterval(Constraint):
    """Whole numbers in [lower_bound, upper_bound]."""

    is_discrete = True

    def __init__(self, lower_bound: Any, upper_bound: Any) -> None:
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound

    def check(self, value: Tensor) -> Tensor:
        return (value % 1 == 0) & (value >= self.lower_bound) & (value <= self.upper_bound)

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _IntegerLessThan(Constraint):
    """Whole numbers in (-inf, upper_bound]."""

    is_discrete = True

    def __init__(self, upper_bound: Any) -> None:
        self.upper_bound = upper_bound

    def check(self, value: Tensor) -> Tensor:
        return (value % 1 == 0) & (value <= self.upper_bound)

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}(upper_bound={self.upper_bound})"


class _IntegerGreaterThan(Constraint):
    """Whole numbers in [lower_bound, inf)."""

    is_discrete = True

    def __init__(self, lower_bound: Any) -> None:
        self.lower_bound = lower_bound

    def check(self, value: Tensor) -> Tensor:
        return (value % 1 == 0) & (value >= self.lower_bound)

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}(lower_bound={self.lower_bound})"


class _Real(Constraint):
    """The extended real line [-inf, inf]: everything but NaN."""

    def check(self, value: Tensor) -> Tensor:
        return value == value  # noqa: PLR0124 (False at NaN)


class _GreaterThan(Constraint):
    """(lower_bound, inf]."""

    def __init__(self, lower_bound: Any) -> None:
        self.lower_bound = lower_bound

    def check(self, value: Tensor) -> Tensor:
        return value > self.lower_bound

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}(lower_bound={self.lower_bound})"


class _GreaterThanEq(Constraint):
    """[lower_bound, inf)."""

    def __init__(self, lower_bound: Any) -> None:
        self.lower_bound = lower_bound

    def check(self, value: Tensor) -> Tensor:
        return value >= self.lower_bound

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}(lower_bound={self.lower_bound})"


class _LessThan(Constraint):
    """[-inf, upper_bound)."""

    def __init__(self, upper_bound: Any) -> None:
        self.upper_bound = upper_bound

    def check(self, value: Tensor) -> Tensor:
        return value < self.upper_bound

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}(upper_bound={self.upper_bound})"


class _Interval(Constraint):
    """[lower_bound, upper_bound]."""

    def __init__(self, lower_bound: Any, upper_bound: Any) -> None:
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound

    def check(self, value: Tensor) -> Tensor:
        return (value >= self.lower_bound) & (value <= self.upper_bound)

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _HalfOpenInterval(Constraint):
    """[lower_bound, upper_bound)."""

    def __init__(self, lower_bound: Any, upper_bound: Any) -> None:
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound

    def check(self, value: Tensor) -> Tensor:
        return (value >= self.lower_bound) & (value < self.upper_bound)

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _Simplex(Constraint):
    """The unit simplex along the last axis: x >= 0 and sum(x) == 1 (within 1e-6)."""

    event_dim = 1

    def check(self, value: Tensor) -> Tensor:
        return _all_last(value >= 0) & (ops.abs(ops.sum(value, axis=-1) - 1) < 1e-6)


class _Multinomial(Constraint):
    """Non-negative counts along the last axis whose sum is at most ``upper_bound`` (PyTorch's weaker check)."""

    is_discrete = True
    event_dim = 1

    def __init__(self, upper_bound: Any) -> None:
        self.upper_bound = upper_bound

    def check(self, value: Tensor) -> Tensor:
        return _all_last(value >= 0) & (ops.sum(value, axis=-1) <= self.upper_bound)


def _is_lower_triangular(value: Tensor) -> Tensor:
    return _all_last(ops.tril(value) == value, 2)


class _LowerTriangular(Constraint):
    """Lower-triangular square matrices."""

    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        return _is_lower_triangular(value)


class _LowerCholesky(Constraint):
    """Lower-triangular square matrices with a positive diagonal."""

    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        return _is_lower_triangular(value) & _all_last(ops.diagonal(value, 0, -2, -1) > 0)


class _CorrCholesky(Constraint):
    """Cholesky factors of correlation matrices: lower Cholesky with rows of unit length."""

    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        tol = float(np.finfo(value.dtype).eps) * value.shape[-1] * 10
        row_norm = ops.sqrt(ops.sum(ops.square(value.detach()), axis=-1))
        unit_rows = _all_last(ops.abs(row_norm - 1.0) <= tol)
        return _LowerCholesky().check(value) & unit_rows


class _Square(Constraint):
    """Square matrices."""

    event_dim = 2

    def check(self, value: Tensor) -> Tensor:
        return full(value.shape[:-2], value.shape[-2] == value.shape[-1], dtype=np.bool_, device=value._backend)


class _Symmetric(_Square):
    """Symmetric square matrices (to within ``isclose`` with atol=1e-6)."""

    def check(self, value: Tensor) -> Tensor:
        from gradkit.ops.numpy_stats import isclose

        square = super().check(value)
        if value.shape[-2] != value.shape[-1]:  # known on the host: no device read
            return square
        return _all_last(isclose(value, ops.swapaxes(value, -1, -2), atol=1e-6), 2)


class _PositiveSemidefinite(_Symmetric):
    """Symmetric matrices whose eigenvalues are >= 0."""

    def check(self, value: Tensor) -> Tensor:
        from gradkit import linalg

        symmetric = super().check(value)
        if not _all_true(symmetric):
            return symmetric
        return _all_last(linalg.eigvalsh(value.detach()) >= 0)


class _PositiveDefinite(_Symmetric):
    """Symmetric matrices with a Cholesky factorisation (positive definite)."""

    def check(self, value: Tensor) -> Tensor:
        from gradkit import linalg

        symmetric = super().check(value)
        if not _all_true(symmetric):
            return symmetric
        return linalg.cholesky_ex(value.detach()).info == 0


class _Cat(Constraint):
    """``cseq[i]`` on consecutive pieces of length ``lengths[i]`` along ``dim`` (as ``gk.cat`` joins them)."""

    def __init__(self, cseq: Any, dim: int = 0, lengths: Any = None) -> None:
        self.cseq = list(cseq)
        if not all(isinstance(c, Constraint) for c in self.cseq):
            raise ArgumentTypeError("cat: every element of cseq must be a Constraint")
        self.lengths = [1] * len(self.cseq) if lengths is None else list(lengths)
        if len(self.lengths) != len(self.cseq):
            raise InvalidArgumentError(f"cat: {len(self.lengths)} lengths for {len(self.cseq)} constraints")
        self.dim = dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return max(c.event_dim for c in self.cseq)

    def check(self, value: Tensor) -> Tensor:
        checks, start = [], 0
        for constraint, length in zip(self.cseq, self.lengths, strict=True):
            index = [slice(None)] * value.ndim
            index[self.dim] = slice(start, start + length)
            checks.append(constraint.check(value[tuple(index)]))
            start += length
        return ops.concatenate(checks, axis=self.dim)


class _Stack(Constraint):
    """``cseq[i]`` on slice i along ``dim`` (as ``gk.stack`` joins them)."""

    def __init__(self, cseq: Any, dim: int = 0) -> None:
        self.cseq = list(cseq)
        if not all(isinstance(c, Constraint) for c in self.cseq):
            raise ArgumentTypeError("stack: every element of cseq must be a Constraint")
        self.dim = dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return any(c.is_discrete for c in self.cseq)

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        dim = max(c.event_dim for c in self.cseq)
        if self.dim + dim < 0:
            dim += 1
        return dim

    def check(self, value: Tensor) -> Tensor:
        pieces = ops.unbind(value, self.dim)
        return ops.stack([c.check(v) for v, c in zip(pieces, self.cseq, strict=True)], axis=self.dim)


dependent = _Dependent()
dependent_property = _DependentProperty
independent = _IndependentConstraint
boolean = _Boolean()
one_hot = _OneHot()
nonnegative_integer = _IntegerGreaterThan(0)
positive_integer = _IntegerGreaterThan(1)
integer_interval = _IntegerInterval
real = _Real()
real_vector = independent(real, 1)
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
greater_than = _GreaterThan
greater_than_eq = _GreaterThanEq
less_than = _LessThan
multinomial = _Multinomial
unit_interval = _Interval(0.0, 1.0)
interval = _Interval
half_open_interval = _HalfOpenInterval
simplex = _Simplex()
lower_triangular = _LowerTriangular()
lower_cholesky = _LowerCholesky()
corr_cholesky = _CorrCholesky()
square = _Square()
symmetric = _Symmetric()
positive_semidefinite = _PositiveSemidefinite()
positive_definite = _PositiveDefinite()
cat = _Cat
stack = _Stack
