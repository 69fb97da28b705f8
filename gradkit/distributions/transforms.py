"""Transforms: invertible (or pseudo-invertible) maps with their log absolute Jacobian determinants
(``torch.distributions.transforms``).

``t(x)`` maps forward, ``t.inv(y)`` back (``t.inv.inv is t``), ``t.log_abs_det_jacobian(x, y)`` is
log |dy/dx| summed over ``t.domain.event_dim`` rightmost axes. ``domain`` and ``codomain`` are constraints;
``bijective`` and ``sign`` (+1 or -1 for monotone univariate maps) as PyTorch's. ``cache_size=1`` remembers
the last (x, y) pair, so ``t.inv(t(x))`` gives ``x`` itself. Everything is built from gradkit ops, so
gradients flow through the maps, their inverses and the Jacobian terms.
"""

from __future__ import annotations

import math
import operator
import weakref
from functools import reduce
from typing import Any

import numpy as np

import gradkit.ops as ops
from gradkit.creation import tensor as _tensor
from gradkit.creation import zeros, zeros_like
from gradkit.distributions import constraints
from gradkit.distributions.distribution import DistributionNotImplementedError
from gradkit.distributions.utils import (
    _sum_rightmost,
    diag_embed,
    finfo,
    lazy_property,
    matrix_diagonal,
    tril_matrix_to_vec,
    vec_to_tril_matrix,
)
from gradkit.errors import ArgumentTypeError, DeviceError, InvalidArgumentError, ShapeError
from gradkit.tensor import Tensor

__all__ = [
    "AbsTransform", "AffineTransform", "CatTransform", "ComposeTransform", "CorrCholeskyTransform",
    "CumulativeDistributionTransform", "ExpTransform", "IndependentTransform", "LowerCholeskyTransform",
    "PositiveDefiniteTransform", "PowerTransform", "ReshapeTransform", "SigmoidTransform", "SoftmaxTransform",
    "SoftplusTransform", "StackTransform", "StickBreakingTransform", "TanhTransform", "Transform",
    "identity_transform",
]

_NUMBERS = (int, float, np.integer, np.floating)


def _softplus(x: Tensor) -> Tensor:
    from gradkit.nn.functional import softplus

    return softplus(x)


def _as_input(x: Any, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if x is None or isinstance(x, (str, bytes, dict, set)):
        raise ArgumentTypeError(f"{name}: expected a tensor, got {type(x).__name__} {x!r:.40}")
    return _tensor(x)


def _shape_of(v: Any) -> tuple[int, ...]:
    return tuple(getattr(v, "shape", ()))


def _broadcast_shapes(name: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(f"{name}: shapes {', '.join(map(str, shapes))} do not broadcast together") from None


def _clipped_sigmoid(x: Tensor) -> Tensor:
    fi = finfo(x)
    return ops.clip(ops.sigmoid(x), float(fi.tiny), 1.0 - float(fi.eps))


def _cache_size(cache_size: Any, name: str) -> int:
    if cache_size not in (0, 1) or isinstance(cache_size, bool):
        raise InvalidArgumentError(f"{name}: cache_size must be 0 or 1, got {cache_size!r}")
    return int(cache_size)


class _StrongRef:
    """A reference that keeps its object alive, called as a ``weakref.ref`` is."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __call__(self) -> Any:
        return self.obj


class Transform:
    """The base class of transforms: subclasses define ``_call`` and/or ``_inverse``, ``domain``,
    ``codomain``, and (bijective ones) ``log_abs_det_jacobian``.

    A transform holds its inverse weakly and the inverse holds it strongly (as PyTorch's): ``t.inv.inv is
    t``, and no reference cycle keeps a cached (x, y) pair, and the graph behind it, alive after the
    transform is dropped."""

    bijective = False
    domain: constraints.Constraint
    codomain: constraints.Constraint

    def __init__(self, cache_size: int = 0) -> None:
        self._cache_size = _cache_size(cache_size, type(self).__name__)
        self._inv: Any = None  # a weakref.ref to the inverse (or, on an inverse, a _StrongRef to the transform)
        if self._cache_size:
            self._cached_x_y: tuple[Any, Any] = (None, None)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if not isinstance(state.get("_inv"), _StrongRef):
            state["_inv"] = None  # a weak reference to the inverse: made again when asked for
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if isinstance(self._inv, _StrongRef):  # an inverse ComposeTransform: its transform's inverse is this
            self._inv()._inv = weakref.ref(self)

    @property
    def event_dim(self) -> int:
        if self.domain.event_dim == self.codomain.event_dim:
            return self.domain.event_dim
        raise InvalidArgumentError(f"{type(self).__name__}: the domain and codomain have different event_dim; "
                                   "use .domain.event_dim or .codomain.event_dim")  # fmt: skip

    @property
    def inv(self) -> Transform:
        """The inverse transform (``t.inv.inv is t``)."""
        inv = None if self._inv is None else self._inv()
        if inv is None:
            inv = _InverseTransform(self)
            self._inv = weakref.ref(inv)
        return inv

    @property
    def sign(self) -> Any:
        """The sign of the Jacobian determinant of a bijective univariate transform (+1 or -1)."""
        raise DistributionNotImplementedError(f"{type(self).__name__} has no sign")

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        if type(self).__init__ is Transform.__init__:
            return type(self)(cache_size=cache_size)
        raise DistributionNotImplementedError(f"{type(self).__name__}.with_cache is not implemented")

    def __eq__(self, other: Any) -> bool:
        return self is other

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __call__(self, x: Any) -> Tensor:
        """y = t(x)."""
        x = _as_input(x, type(self).__name__)
        if self._cache_size == 0:
            return self._call(x)
        x_old, y_old = self._cached_x_y
        if x is x_old:
            return y_old
        y = self._call(x)
        self._cached_x_y = x, y
        return y

    def _inv_call(self, y: Any) -> Tensor:
        y = _as_input(y, type(self).__name__)
        if self._cache_size == 0:
            return self._inverse(y)
        x_old, y_old = self._cached_x_y
        if y is y_old:
            return x_old
        x = self._inverse(y)
        self._cached_x_y = x, y
        return x

    def _call(self, x: Tensor) -> Tensor:
        raise DistributionNotImplementedError(f"{type(self).__name__} does not define the forward map")

    def _inverse(self, y: Tensor) -> Tensor:
        raise DistributionNotImplementedError(f"{type(self).__name__} does not define the inverse map")

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        """log |dy/dx| at the pair (x, y = t(x))."""
        raise DistributionNotImplementedError(f"{type(self).__name__} does not define log_abs_det_jacobian")

    def __repr__(self) -> str:
        return type(self).__name__ + "()"

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of t(x) for x of ``shape``."""
        return tuple(shape)

    def inverse_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of t.inv(y) for y of ``shape``."""
        return tuple(shape)


class _InverseTransform(Transform):
    """The inverse of a transform (made by ``Transform.inv``)."""

    def __init__(self, transform: Transform) -> None:
        super().__init__(cache_size=transform._cache_size)
        self._inv = transform  # held strongly: the transform is what this one is made of

    def __getstate__(self) -> dict:
        return self.__dict__.copy()  # the transform is part of the state (Transform's drops only a cached inverse)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._inv._inv = weakref.ref(self)  # so that t.inv.inv is t again

    @constraints.dependent_property(is_discrete=False)
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return self._inv.codomain

    @constraints.dependent_property(is_discrete=False)
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return self._inv.domain

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return self._inv.bijective

    @property
    def sign(self) -> Any:
        return self._inv.sign

    @property
    def inv(self) -> Transform:
        return self._inv

    def with_cache(self, cache_size: int = 1) -> Transform:
        return self.inv.with_cache(cache_size).inv

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _InverseTransform) and self._inv == other._inv

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._inv!r})"

    def __call__(self, x: Any) -> Tensor:
        return self._inv._inv_call(x)

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        return -self._inv.log_abs_det_jacobian(y, x)

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return self._inv.inverse_shape(shape)

    def inverse_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return self._inv.forward_shape(shape)


class ComposeTransform(Transform):
    """``parts`` applied in order (the first one first); ``ComposeTransform([])`` is the identity."""

    def __init__(self, parts: Any, cache_size: int = 0) -> None:
        parts = list(parts)
        if not all(isinstance(p, Transform) for p in parts):
            raise ArgumentTypeError("ComposeTransform: every part must be a Transform")
        if cache_size:
            parts = [p.with_cache(cache_size) for p in parts]
        super().__init__(cache_size=cache_size)
        self.parts = parts

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ComposeTransform) and self.parts == other.parts

    __hash__ = object.__hash__

    @constraints.dependent_property(is_discrete=False)
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        if not self.parts:
            return constraints.real
        domain = self.parts[0].domain
        event_dim = self.parts[-1].codomain.event_dim
        for part in reversed(self.parts):
            event_dim += part.domain.event_dim - part.codomain.event_dim
            event_dim = max(event_dim, part.domain.event_dim)
        if event_dim > domain.event_dim:
            domain = constraints.independent(domain, event_dim - domain.event_dim)
        return domain

    @constraints.dependent_property(is_discrete=False)
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        if not self.parts:
            return constraints.real
        codomain = self.parts[-1].codomain
        event_dim = self.parts[0].domain.event_dim
        for part in self.parts:
            event_dim += part.codomain.event_dim - part.domain.event_dim
            event_dim = max(event_dim, part.codomain.event_dim)
        if event_dim > codomain.event_dim:
            codomain = constraints.independent(codomain, event_dim - codomain.event_dim)
        return codomain

    @lazy_property
    def bijective(self) -> bool:  # type: ignore[override]
        return all(p.bijective for p in self.parts)

    @lazy_property
    def sign(self) -> Any:  # type: ignore[override]
        sign: Any = 1
        for p in self.parts:
            sign = sign * p.sign
        return sign

    @property
    def inv(self) -> Transform:
        inv = None if self._inv is None else self._inv()
        if inv is None:
            inv = ComposeTransform([p.inv for p in reversed(self.parts)])
            self._inv = weakref.ref(inv)
            inv._inv = _StrongRef(self)
        return inv

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return ComposeTransform(self.parts, cache_size=cache_size)

    def __call__(self, x: Any) -> Tensor:
        x = _as_input(x, "ComposeTransform")
        for part in self.parts:
            x = part(x)
        return x

    def _inv_call(self, y: Any) -> Tensor:  # used only when a ComposeTransform's inverse is not one itself
        y = _as_input(y, "ComposeTransform")
        for part in reversed(self.parts):
            y = part.inv(y)
        return y

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        x = _as_input(x, "ComposeTransform")
        if not self.parts:
            return zeros_like(x)
        xs = [x]
        for part in self.parts[:-1]:
            xs.append(part(xs[-1]))
        xs.append(_as_input(y, "ComposeTransform"))
        terms = []
        event_dim = self.domain.event_dim
        for part, xi, yi in zip(self.parts, xs[:-1], xs[1:], strict=True):
            terms.append(_sum_rightmost(part.log_abs_det_jacobian(xi, yi), event_dim - part.domain.event_dim))
            event_dim += part.codomain.event_dim - part.domain.event_dim
        return reduce(operator.add, terms)

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        for part in self.parts:
            shape = part.forward_shape(shape)
        return tuple(shape)

    def inverse_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        for part in reversed(self.parts):
            shape = part.inverse_shape(shape)
        return tuple(shape)

    def __repr__(self) -> str:
        return type(self).__name__ + "(\n    " + ",\n    ".join(repr(p) for p in self.parts) + "\n)"


identity_transform = ComposeTransform([])


class IndependentTransform(Transform):
    """``base_transform`` with ``reinterpreted_batch_ndims`` more rightmost axes counted as one event: the maps
    are the same, ``log_abs_det_jacobian`` sums over those axes."""

    def __init__(self, base_transform: Transform, reinterpreted_batch_ndims: int, cache_size: int = 0) -> None:
        if not isinstance(base_transform, Transform):
            raise ArgumentTypeError(f"IndependentTransform: base_transform must be a Transform, got "
                                    f"{type(base_transform).__name__}")  # fmt: skip
        super().__init__(cache_size=cache_size)
        self.base_transform = base_transform.with_cache(cache_size)
        self.reinterpreted_batch_ndims = int(reinterpreted_batch_ndims)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return IndependentTransform(self.base_transform, self.reinterpreted_batch_ndims, cache_size=cache_size)

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, IndependentTransform) and self.base_transform == other.base_transform
                and self.reinterpreted_batch_ndims == other.reinterpreted_batch_ndims)  # fmt: skip

    __hash__ = object.__hash__

    @constraints.dependent_property(is_discrete=False)
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.independent(self.base_transform.domain, self.reinterpreted_batch_ndims)

    @constraints.dependent_property(is_discrete=False)
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.independent(self.base_transform.codomain, self.reinterpreted_batch_ndims)

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return self.base_transform.bijective

    @property
    def sign(self) -> Any:
        return self.base_transform.sign

    def _call(self, x: Tensor) -> Tensor:
        if x.ndim < self.domain.event_dim:
            raise ShapeError(f"IndependentTransform: too few dimensions on input ({x.ndim} < "
                             f"{self.domain.event_dim})")  # fmt: skip
        return self.base_transform(x)

    def _inverse(self, y: Tensor) -> Tensor:
        if y.ndim < self.codomain.event_dim:
            raise ShapeError(f"IndependentTransform: too few dimensions on input ({y.ndim} < "
                             f"{self.codomain.event_dim})")  # fmt: skip
        return self.base_transform.inv(y)

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        return _sum_rightmost(self.base_transform.log_abs_det_jacobian(x, y), self.reinterpreted_batch_ndims)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_transform!r}, {self.reinterpreted_batch_ndims})"

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.base_transform.forward_shape(shape)

    def inverse_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.base_transform.inverse_shape(shape)


class ReshapeTransform(Transform):
    """Reshapes the rightmost ``in_shape`` axes to ``out_shape`` (the same number of elements); Jacobian 1."""

    bijective = True

    def __init__(self, in_shape: Any, out_shape: Any, cache_size: int = 0) -> None:
        self.in_shape = tuple(int(d) for d in in_shape)
        self.out_shape = tuple(int(d) for d in out_shape)
        if math.prod(self.in_shape) != math.prod(self.out_shape):
            raise ShapeError(f"ReshapeTransform: in_shape {self.in_shape} and out_shape {self.out_shape} have "
                             "different numbers of elements")  # fmt: skip
        super().__init__(cache_size=cache_size)

    @constraints.dependent_property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.independent(constraints.real, len(self.in_shape))

    @constraints.dependent_property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.independent(constraints.real, len(self.out_shape))

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return ReshapeTransform(self.in_shape, self.out_shape, cache_size=cache_size)

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, ReshapeTransform) and self.in_shape == other.in_shape
                and self.out_shape == other.out_shape)  # fmt: skip

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        batch = x.shape[: x.ndim - len(self.in_shape)]
        return ops.reshape(x, tuple(batch) + self.out_shape)

    def _inverse(self, y: Tensor) -> Tensor:
        batch = y.shape[: y.ndim - len(self.out_shape)]
        return ops.reshape(y, tuple(batch) + self.in_shape)

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        batch = x.shape[: x.ndim - len(self.in_shape)]
        return zeros(tuple(batch), dtype=x.dtype, device=x._backend)

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return self._reshaped(tuple(shape), self.in_shape, self.out_shape)

    def inverse_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return self._reshaped(tuple(shape), self.out_shape, self.in_shape)

    @staticmethod
    def _reshaped(shape: tuple[int, ...], old: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) < len(old):
            raise ShapeError(f"ReshapeTransform: too few dimensions in shape {shape} (expected at least {len(old)})")
        cut = len(shape) - len(old)
        if shape[cut:] != old:
            raise ShapeError(f"ReshapeTransform: shape mismatch: expected {old} but got {shape[cut:]}")
        return shape[:cut] + new

    def __repr__(self) -> str:
        return f"{type(self).__name__}(in_shape={self.in_shape}, out_shape={self.out_shape})"


class ExpTransform(Transform):
    """y = exp(x)."""

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, ExpTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return ops.exp(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return ops.log(y)

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        return x


class PowerTransform(Transform):
    """y = x ** exponent (x > 0)."""

    domain = constraints.positive
    codomain = constraints.positive
    bijective = True

    def __init__(self, exponent: Any, cache_size: int = 0) -> None:
        from gradkit.distributions.utils import broadcast_all

        super().__init__(cache_size=cache_size)
        (self.exponent,) = broadcast_all(exponent, name="PowerTransform")
        self._number = float(exponent) if isinstance(exponent, _NUMBERS) else None

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return PowerTransform(self.exponent if self._number is None else self._number, cache_size=cache_size)

    @lazy_property
    def sign(self) -> Any:  # type: ignore[override]
        """The exponent's sign: a number for an exponent given as a number (as AffineTransform's for a number
        scale: a tensor would sit on the default device, not on the values'), else a tensor."""
        if self._number is not None:
            e = self._number
            return 1 if e > 0 else -1 if e < 0 else 0 if e == 0 else math.nan
        return ops.sign(self.exponent)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, PowerTransform):
            return False
        if self._number is not None and other._number is not None:
            return self._number == other._number
        # a number against the other's tensor, where it lives (the number's own tensor is on the default device)
        a = self._number if self._number is not None else self.exponent
        b = other._number if other._number is not None else other.exponent
        try:
            return bool(ops.all(a == b).item())
        except (ValueError, DeviceError):  # shapes that do not broadcast, tensors on two devices
            return False

    __hash__ = object.__hash__

    def _exponent(self, like: Tensor) -> Tensor:
        """The exponent in ``like``'s wider float dtype (1 / 2.5 computed in float64 for float64 values); one
        given as a number goes to ``like``'s device, as a number would."""
        e = self.exponent
        if self._number is not None and like.dtype.kind == "f":
            if e._backend is not like._backend or e.dtype != like.dtype:
                return Tensor._make(like._backend.asarray(np.asarray(self._number, dtype=like.dtype)), like._backend)
            return e
        if like.dtype.kind == "f" and like.dtype.itemsize > e.dtype.itemsize:
            return ops.astype(e, like.dtype)
        return e

    def _call(self, x: Tensor) -> Tensor:
        return ops.power(x, self._exponent(x))

    def _inverse(self, y: Tensor) -> Tensor:
        return ops.power(y, 1 / self._exponent(y))

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        return ops.log(ops.abs(self._exponent(x) * y / x))

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return _broadcast_shapes("PowerTransform", tuple(shape), _shape_of(self.exponent))

    def inverse_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return _broadcast_shapes("PowerTransform", tuple(shape), _shape_of(self.exponent))


class SigmoidTransform(Transform):
    """y = sigmoid(x), clipped to [tiny, 1 - eps] of the dtype; x = logit(y)."""

    domain = constraints.real
    codomain = constraints.unit_interval
    bijective = True
    sign = +1

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, SigmoidTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return _clipped_sigmoid(x)

    def _inverse(self, y: Tensor) -> Tensor:
        fi = finfo(y)
        y = ops.clip(y, float(fi.tiny), 1.0 - float(fi.eps))
        return ops.log(y) - ops.log1p(-y)

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        return -_softplus(-x) - _softplus(x)


class SoftplusTransform(Transform):
    """y = log(1 + exp(x)) (linear beyond x = 20)."""

    domain = constraints.real
    codomain = constraints.positive
    bijective = True
    sign = +1

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, SoftplusTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return _softplus(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return ops.log(-ops.expm1(-y)) + y

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        return -_softplus(-x)


class TanhTransform(Transform):
    """y = tanh(x); x = atanh(y)."""

    domain = constraints.real
    codomain = constraints.interval(-1.0, 1.0)
    bijective = True
    sign = +1

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, TanhTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return ops.tanh(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return ops.arctanh(y)

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        return 2.0 * (math.log(2.0) - x - _softplus(-2.0 * x))


class AbsTransform(Transform):
    """y = |x| (not bijective: the inverse is the identity on y >= 0)."""

    domain = constraints.real
    codomain = constraints.positive

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, AbsTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return ops.abs(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return y


class AffineTransform(Transform):
    """y = loc + scale * x (``loc``, ``scale`` numbers or tensors); ``event_dim`` rightmost axes form an event."""

    bijective = True

    def __init__(self, loc: Any, scale: Any, event_dim: int = 0, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.loc = loc
        self.scale = scale
        self._event_dim = int(event_dim)

    @property
    def event_dim(self) -> int:
        return self._event_dim

    @constraints.dependent_property(is_discrete=False)
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        if self.event_dim == 0:
            return constraints.real
        return constraints.independent(constraints.real, self.event_dim)

    @constraints.dependent_property(is_discrete=False)
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        if self.event_dim == 0:
            return constraints.real
        return constraints.independent(constraints.real, self.event_dim)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return AffineTransform(self.loc, self.scale, self.event_dim, cache_size=cache_size)

    @staticmethod
    def _same(a: Any, b: Any) -> bool:
        if isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS):
            return bool(a == b)
        try:
            return bool(ops.all(a == b).item()) if isinstance(a == b, Tensor) else bool(np.all(a == b))
        except ValueError:  # shapes that do not broadcast
            return False

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, AffineTransform) and self._same(self.loc, other.loc)
                and self._same(self.scale, other.scale))  # fmt: skip

    __hash__ = object.__hash__

    @property
    def sign(self) -> Any:
        if isinstance(self.scale, _NUMBERS):
            return 1 if float(self.scale) > 0 else -1 if float(self.scale) < 0 else 0
        return ops.sign(self.scale)

    def _call(self, x: Tensor) -> Tensor:
        return self.loc + self.scale * x

    def _inverse(self, y: Tensor) -> Tensor:
        return (y - self.loc) / self.scale

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        shape = tuple(x.shape)
        scale = self.scale
        if isinstance(scale, _NUMBERS):
            result = zeros_like(x) + math.log(abs(scale))
        else:
            result = ops.log(ops.abs(scale))
        if self.event_dim:  # each event's terms summed (a scale broadcast over an event counts once per element)
            full_shape = _broadcast_shapes("AffineTransform", shape, tuple(result.shape))
            result = _sum_rightmost(ops.broadcast_to(result, full_shape), self.event_dim)
            shape = shape[: len(shape) - self.event_dim]
        return ops.broadcast_to(result, shape)

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return _broadcast_shapes("AffineTransform", tuple(shape), _shape_of(self.loc), _shape_of(self.scale))

    def inverse_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return _broadcast_shapes("AffineTransform", tuple(shape), _shape_of(self.loc), _shape_of(self.scale))


class SoftmaxTransform(Transform):
    """y = softmax(x) over the last axis (not bijective; the inverse is log y)."""

    domain = constraints.real_vector
    codomain = constraints.simplex

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, SoftmaxTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return ops.softmax(x, -1)

    def _inverse(self, y: Tensor) -> Tensor:
        return ops.log(y)

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise ShapeError("SoftmaxTransform: too few dimensions on input")
        return tuple(shape)

    inverse_shape = forward_shape


def _stick_offset(n: int, like: Tensor) -> Tensor:
    """log(n, n - 1, ..., 1): the offsets that make x = 0 the simplex's centre."""
    return Tensor._make(like._backend.asarray(np.log(np.arange(n, 0, -1, dtype=np.float64)).astype(like.dtype)),
                        like._backend)  # fmt: skip


class StickBreakingTransform(Transform):
    """Unconstrained vectors of length K - 1 to the simplex of K by stick breaking (bijective)."""

    domain = constraints.real_vector
    codomain = constraints.simplex
    bijective = True

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, StickBreakingTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        z = _clipped_sigmoid(x - _stick_offset(x.shape[-1], x))
        z_cumprod = ops.cumprod(1 - z, axis=-1)
        pad = [(0, 0)] * (x.ndim - 1)
        return ops.pad(z, pad + [(0, 1)], constant_values=1) * ops.pad(z_cumprod, pad + [(1, 0)], constant_values=1)

    def _inverse(self, y: Tensor) -> Tensor:
        y_crop = y[..., :-1]
        sf = ops.clip(1 - ops.cumsum(y_crop, axis=-1), float(finfo(y).tiny), None)
        return ops.log(y_crop) - ops.log(sf) + _stick_offset(y_crop.shape[-1], y)

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        from gradkit.ops.special import log_expit

        x = x - _stick_offset(x.shape[-1], x)
        return ops.sum(-x + log_expit(x) + ops.log(y[..., :-1]), axis=-1)

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise ShapeError("StickBreakingTransform: too few dimensions on input")
        return tuple(shape[:-1]) + (shape[-1] + 1,)

    def inverse_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise ShapeError("StickBreakingTransform: too few dimensions on input")
        return tuple(shape[:-1]) + (shape[-1] - 1,)


class LowerCholeskyTransform(Transform):
    """Unconstrained square matrices to lower-triangular ones with a positive diagonal (exp of the diagonal)."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.lower_cholesky

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, LowerCholeskyTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        return ops.tril(x, -1) + diag_embed(ops.exp(matrix_diagonal(x)))

    def _inverse(self, y: Tensor) -> Tensor:
        return ops.tril(y, -1) + diag_embed(ops.log(matrix_diagonal(y)))


class PositiveDefiniteTransform(Transform):
    """Unconstrained square matrices to positive-definite ones: L L^T of the LowerCholeskyTransform's L."""

    domain = constraints.independent(constraints.real, 2)
    codomain = constraints.positive_definite

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, PositiveDefiniteTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        low = LowerCholeskyTransform()(x)
        return ops.matmul(low, ops.swapaxes(low, -1, -2))

    def _inverse(self, y: Tensor) -> Tensor:
        from gradkit import linalg

        return LowerCholeskyTransform().inv(linalg.cholesky(y))


class CorrCholeskyTransform(Transform):
    """Unconstrained vectors of length D(D-1)/2 to Cholesky factors of D x D correlation matrices (tanh, then
    a signed stick breaking along each row), bijective."""

    domain = constraints.real_vector
    codomain = constraints.corr_cholesky
    bijective = True

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, CorrCholeskyTransform)

    __hash__ = object.__hash__

    def _call(self, x: Tensor) -> Tensor:
        x = ops.tanh(x)
        eps = float(finfo(x).eps)
        x = ops.clip(x, -1 + eps, 1 - eps)
        r = vec_to_tril_matrix(x, diag=-1)
        z1m_cumprod_sqrt = ops.cumprod(ops.sqrt(1 - ops.square(r)), axis=-1)
        n = r.shape[-1]
        r = r + Tensor._make(r._backend.xp.eye(n, dtype=r.dtype), r._backend)
        pad = [(0, 0)] * (r.ndim - 1)
        return r * ops.pad(z1m_cumprod_sqrt[..., :-1], pad + [(1, 0)], constant_values=1)

    def _inverse(self, y: Tensor) -> Tensor:
        y_cumsum = 1 - ops.cumsum(y * y, axis=-1)
        pad = [(0, 0)] * (y.ndim - 1)
        y_cumsum_shifted = ops.pad(y_cumsum[..., :-1], pad + [(1, 0)], constant_values=1)
        y_vec = tril_matrix_to_vec(y, diag=-1)
        y_cumsum_vec = tril_matrix_to_vec(y_cumsum_shifted, diag=-1)
        t = y_vec / ops.sqrt(y_cumsum_vec)
        return (ops.log1p(t) - ops.log1p(-t)) / 2

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        y1m_cumsum = 1 - ops.cumsum(y * y, axis=-1)
        y1m_cumsum_tril = tril_matrix_to_vec(y1m_cumsum, diag=-2)
        stick_breaking_logdet = 0.5 * ops.sum(ops.log(y1m_cumsum_tril), axis=-1)
        tanh_logdet = -2 * ops.sum(x + _softplus(-2 * x) - math.log(2.0), axis=-1)
        return stick_breaking_logdet + tanh_logdet

    def forward_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) < 1:
            raise ShapeError("CorrCholeskyTransform: too few dimensions on input")
        n = shape[-1]
        d = round((0.25 + 2 * n) ** 0.5 + 0.5)
        if d * (d - 1) // 2 != n:
            raise ShapeError(f"CorrCholeskyTransform: a last axis of {n} is not a flattened lower triangle")
        return tuple(shape[:-1]) + (d, d)

    def inverse_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) < 2:
            raise ShapeError("CorrCholeskyTransform: too few dimensions on input")
        if shape[-2] != shape[-1]:
            raise ShapeError(f"CorrCholeskyTransform: the input is not square: {tuple(shape)}")
        d = shape[-1]
        return tuple(shape[:-2]) + (d * (d - 1) // 2,)


class CumulativeDistributionTransform(Transform):
    """y = distribution.cdf(x): the distribution's support to the unit interval (its icdf is the inverse)."""

    bijective = True
    codomain = constraints.unit_interval
    sign = +1

    def __init__(self, distribution: Any, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.distribution = distribution

    @property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return self.distribution.support

    def _call(self, x: Tensor) -> Tensor:
        return self.distribution.cdf(x)

    def _inverse(self, y: Tensor) -> Tensor:
        return self.distribution.icdf(y)

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        return self.distribution.log_prob(x)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return CumulativeDistributionTransform(self.distribution, cache_size=cache_size)


def _narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    index = [slice(None)] * x.ndim
    index[dim] = slice(start, start + length)
    return x[tuple(index)]


class CatTransform(Transform):
    """``tseq[i]`` applied to consecutive pieces of length ``lengths[i]`` along ``dim``."""

    def __init__(self, tseq: Any, dim: int = 0, lengths: Any = None, cache_size: int = 0) -> None:
        tseq = list(tseq)
        if not all(isinstance(t, Transform) for t in tseq):
            raise ArgumentTypeError("CatTransform: every element of tseq must be a Transform")
        if cache_size:
            tseq = [t.with_cache(cache_size) for t in tseq]
        super().__init__(cache_size=cache_size)
        self.transforms = tseq
        self.lengths = [1] * len(tseq) if lengths is None else [int(n) for n in lengths]
        if len(self.lengths) != len(self.transforms):
            raise InvalidArgumentError(f"CatTransform: {len(self.lengths)} lengths for {len(tseq)} transforms")
        self.dim = int(dim)

    @lazy_property
    def event_dim(self) -> int:  # type: ignore[override]
        return max(t.event_dim for t in self.transforms)

    @lazy_property
    def length(self) -> int:
        return sum(self.lengths)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return CatTransform(self.transforms, self.dim, self.lengths, cache_size)

    def _check(self, x: Tensor, what: str) -> None:
        if not -x.ndim <= self.dim < x.ndim:
            raise ShapeError(f"CatTransform: dim {self.dim} is out of range for {what} with {x.ndim} dimensions")
        if x.shape[self.dim] != self.length:
            raise ShapeError(f"CatTransform: {what} has length {x.shape[self.dim]} along dim {self.dim}, "
                             f"expected {self.length}")  # fmt: skip

    def _pieces(self, x: Tensor) -> list[Tensor]:
        out, start = [], 0
        for length in self.lengths:
            out.append(_narrow(x, self.dim, start, length))
            start += length
        return out

    def _call(self, x: Tensor) -> Tensor:
        self._check(x, "x")
        return ops.concatenate([t(p) for t, p in zip(self.transforms, self._pieces(x), strict=True)], axis=self.dim)

    def _inverse(self, y: Tensor) -> Tensor:
        self._check(y, "y")
        return ops.concatenate([t.inv(p) for t, p in zip(self.transforms, self._pieces(y), strict=True)],
                               axis=self.dim)  # fmt: skip

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        self._check(x, "x")
        self._check(y, "y")
        terms = []
        for t, xs, ys in zip(self.transforms, self._pieces(x), self._pieces(y), strict=True):
            term = t.log_abs_det_jacobian(xs, ys)
            if t.event_dim < self.event_dim:
                term = _sum_rightmost(term, self.event_dim - t.event_dim)
            terms.append(term)
        dim = self.dim - x.ndim if self.dim >= 0 else self.dim
        dim += self.event_dim
        if dim < 0:
            return ops.concatenate(terms, axis=dim)
        return reduce(operator.add, terms)

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return all(t.bijective for t in self.transforms)

    @constraints.dependent_property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.cat([t.domain for t in self.transforms], self.dim, self.lengths)

    @constraints.dependent_property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.cat([t.codomain for t in self.transforms], self.dim, self.lengths)


class StackTransform(Transform):
    """``tseq[i]`` applied to slice i along ``dim``."""

    def __init__(self, tseq: Any, dim: int = 0, cache_size: int = 0) -> None:
        tseq = list(tseq)
        if not all(isinstance(t, Transform) for t in tseq):
            raise ArgumentTypeError("StackTransform: every element of tseq must be a Transform")
        if cache_size:
            tseq = [t.with_cache(cache_size) for t in tseq]
        super().__init__(cache_size=cache_size)
        self.transforms = tseq
        self.dim = int(dim)

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return StackTransform(self.transforms, self.dim, cache_size)

    def _slices(self, z: Tensor, what: str) -> tuple[Tensor, ...]:
        if not -z.ndim <= self.dim < z.ndim:
            raise ShapeError(f"StackTransform: dim {self.dim} is out of range for {what} with {z.ndim} dimensions")
        if z.shape[self.dim] != len(self.transforms):
            raise ShapeError(f"StackTransform: {what} has length {z.shape[self.dim]} along dim {self.dim}, "
                             f"expected {len(self.transforms)}")  # fmt: skip
        return ops.unbind(z, self.dim)

    def _call(self, x: Tensor) -> Tensor:
        return ops.stack([t(s) for s, t in zip(self._slices(x, "x"), self.transforms, strict=True)], axis=self.dim)

    def _inverse(self, y: Tensor) -> Tensor:
        return ops.stack([t.inv(s) for s, t in zip(self._slices(y, "y"), self.transforms, strict=True)],
                         axis=self.dim)  # fmt: skip

    def log_abs_det_jacobian(self, x: Any, y: Any) -> Tensor:
        terms = [t.log_abs_det_jacobian(xs, ys) for xs, ys, t in
                 zip(self._slices(x, "x"), self._slices(y, "y"), self.transforms, strict=True)]  # fmt: skip
        return ops.stack(terms, axis=self.dim)

    @property
    def bijective(self) -> bool:  # type: ignore[override]
        return all(t.bijective for t in self.transforms)

    @constraints.dependent_property
    def domain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.stack([t.domain for t in self.transforms], self.dim)

    @constraints.dependent_property
    def codomain(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.stack([t.codomain for t in self.transforms], self.dim)
