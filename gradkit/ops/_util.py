"""Helpers shared by the ops: operand conversion and axis checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradkit._args import text
from gradkit.autograd.grad_mode import state as grad_state
from gradkit.backends.base import Backend
from gradkit.errors import ArgumentTypeError, DeviceError, IndexOutOfRangeError, InvalidArgumentError
from gradkit.tensor import DDOF_DEFAULT, NOT_GIVEN, Tensor  # noqa: F401 - shared with the ops

#: Python numbers stay Python numbers: they never upcast a tensor's dtype.
SCALARS = (int, float, bool)

# NumPy 1.x promotes python floats with 0-d float32 arrays to float64.
LEGACY_PROMOTION = np.lib.NumpyVersion(np.__version__) < "2.0.0"

#: What a binary op of two numbers takes (NumPy's scalars too: ``np.float32(2)``, ``np.int8(3)``).
_NUMBERS = (int, float, bool, np.number, np.bool_)
_INT64 = np.iinfo(np.int64)


def as_tensor(x: Any, op: str, backend: Backend | None = None) -> Tensor:
    """``x`` as a Tensor (on ``backend`` when given), without a copy where possible."""
    if isinstance(x, Tensor):
        if backend is not None and x._backend is not backend:
            raise DeviceError(f"{op}: tensors on different devices: {backend.device} and {x.device}")
        return x
    if backend is not None and isinstance(x, backend.array_type) and x.dtype.kind in "biuf":
        return Tensor._make(x, backend)  # other dtypes (strings, objects) go the long way, to their error
    from gradkit.creation import array_for

    if isinstance(x, SCALARS) and backend is None:
        raise ArgumentTypeError(f"{op}: expected a Tensor, got {type(x).__name__} {x!r}")
    data, backend = array_for(x, np.float32 if isinstance(x, float) else None, backend, op)
    return Tensor._make(data, backend)


def number_tensor(x: int | float | bool, op: str) -> Tensor:
    """A Python number as NumPy takes it: a 0-d tensor on the default device, float64 for a float, int64
    for an int, bool for a bool (``gk.sqrt(2)`` is float64, as ``np.sqrt(2)``)."""
    from gradkit.creation import array_for

    if isinstance(x, bool):
        dtype = np.bool_
    elif isinstance(x, int):
        dtype = np.int64
        if not _INT64.min <= x <= _INT64.max:  # NumPy would make an object array; no tensor holds one
            digits = repr(x) if len(repr(x)) <= 40 else f"{repr(x)[:20]}... ({len(repr(x))} digits)"
            raise InvalidArgumentError(
                f"{op}: the Python int {digits} is beyond the int64 range ({_INT64.min} to {_INT64.max}) "
                "that a tensor holds; pass it as a float for a float64 result"
            )
    else:
        dtype = np.float64
    data, backend = array_for(x, dtype, None, op)
    return Tensor._make(data, backend)


def operands(op: str, a: Any, b: Any) -> tuple[Any, Any, Backend]:
    """The two operands of a binary op: Tensors, or Python numbers left as they are (the first of two
    numbers becomes a 0-d tensor, :func:`number_tensor`).

    Arrays and lists become constant tensors on the other operand's device;
    two tensors on different devices are an error.
    """
    if isinstance(a, Tensor):
        backend = a._backend
        if isinstance(b, Tensor):
            if b._backend is not backend:
                raise DeviceError(f"{op}: tensors on different devices: {a.device} and {b.device}")
        elif isinstance(b, SCALARS):
            if LEGACY_PROMOTION and a._data.dtype.kind == "f":
                b = a._data.dtype.type(b)
        else:
            b = as_tensor(b, op, backend)
    elif isinstance(b, Tensor):
        backend = b._backend
        if isinstance(a, SCALARS):
            if LEGACY_PROMOTION and b._data.dtype.kind == "f":
                a = b._data.dtype.type(a)
        else:
            a = as_tensor(a, op, backend)
    elif isinstance(a, _NUMBERS) and isinstance(b, _NUMBERS):
        # Two numbers, as NumPy: one becomes a 0-d tensor. A NumPy scalar keeps its dtype and a Python number
        # beside it stays a Python number (np.float32(2) + 1.5 is float32); of two Python numbers, a.
        if isinstance(a, SCALARS) and not isinstance(b, SCALARS):
            return operands(op, a, as_tensor(b, op))
        return operands(op, number_tensor(a, op) if isinstance(a, SCALARS) else as_tensor(a, op), b)
    else:
        raise ArgumentTypeError(
            f"{op}: expected at least one Tensor operand, got {type(a).__name__} and {type(b).__name__}"
        )
    return a, b, backend


def host_read_allowed(array: Any) -> bool:
    """False while a CUDA graph is captured: reading a device value on the host cannot be part of one.

    Checks that read index or label values back (bounds, class ranges) skip themselves then.
    """
    if type(array) is np.ndarray:
        return True
    from gradkit.cuda import is_capturing

    return not is_capturing()


def int64_indices(array: Any, op: str, what: str) -> Any:
    """uint64 index values as int64, what NumPy and CuPy index with (one beyond int64 is an error)."""
    if array.dtype != np.uint64:
        return array
    if array.size and host_read_allowed(array) and int(array.max()) > np.iinfo(np.int64).max:
        raise IndexOutOfRangeError(f"{op}: {what} {int(array.max())} is out of range (beyond int64)")
    return array.astype(np.int64)


def private_copy(array: Any, given: Any) -> Any:
    """``array``, copied when it is ``given`` (the caller's own array: a Tensor's data, a NumPy or CuPy array)
    and gradient mode is on, so that an index a VJP saves cannot be changed under it: an index tensor
    changed in place between forward and backward leaves the gradient as the forward pass saw it."""
    if array is given and grad_state.enabled:
        return array.copy()
    return array


def pass_through(g: Tensor, *_: Any) -> Tensor:
    """The VJP of an operation that hands its gradient on unchanged (add, clone, ...)."""
    return g


def data_of(x: Any) -> Any:
    """The raw array of a Tensor, or the value itself for a constant."""
    return x._data if isinstance(x, Tensor) else x


def tensor_or_none(x: Any) -> Tensor | None:
    """``x`` when it is a Tensor (an input that may need a gradient), else None."""
    return x if isinstance(x, Tensor) else None


def torch_dims(op: str, axis: Any, keepdims: Any, dim: Any, keepdim: Any, empty_is_all: bool = False) -> tuple:
    """``(axis, keepdims)`` from PyTorch's ``dim=`` and ``keepdim=`` (NOT_GIVEN where not given).

    Giving one together with NumPy's ``axis``/``keepdims`` is an InvalidArgumentError (a non-default
    ``axis``/``keepdims`` counts as given). A list of dims becomes a tuple; with ``empty_is_all`` an
    empty one means every axis, as PyTorch's ``sum``/``mean``/``amax``/``var``/``norm`` take ``dim=()``.
    """
    if dim is not NOT_GIVEN:
        if axis is not None:
            raise InvalidArgumentError(
                f"{op}: got both axis={axis!r:.40} (NumPy's name) and dim={dim!r:.40} (PyTorch's); give one"
            )
        axis = tuple(dim) if isinstance(dim, list) else dim
        if empty_is_all and isinstance(axis, tuple) and not axis:
            axis = None
    if keepdim is not NOT_GIVEN:
        if keepdims is not False:
            raise InvalidArgumentError(
                f"{op}: got both keepdims={keepdims!r:.40} (NumPy's name) and keepdim={keepdim!r:.40} (PyTorch's); "
                "give one"
            )
        keepdims = keepdim
    return axis, keepdims


def renamed(op: str, value: Any, default: Any, alias: Any, name: str, alias_name: str) -> Any:
    """``value`` (NumPy's keyword ``name``), or ``alias`` (PyTorch's ``alias_name``) when that was given.

    Both given (``value`` not its ``default``) is an InvalidArgumentError naming the operation.
    """
    if alias is NOT_GIVEN:
        return value
    if value is not default and not (type(value) is type(default) and value == default):
        raise InvalidArgumentError(
            f"{op}: got both {name}={value!r:.40} (NumPy's name) and {alias_name}={alias!r:.40} (PyTorch's); give one"
        )
    return alias


def normalize_axis(axis: int, ndim: int, op: str) -> int:
    """A possibly negative axis as a non-negative one, or IndexOutOfRangeError.

    A 0-d tensor takes axis 0 or -1, both giving 0 (PyTorch's rule for a dim of a 0-d tensor; NumPy's
    reductions take them too). A caller that indexes the shape with the result must handle ndim 0 itself.
    """
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ArgumentTypeError(f"{op}: axis must be an int, got {type(axis).__name__} {axis!r}")
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise IndexOutOfRangeError(f"{op}: axis {axis} is out of range for a tensor of {ndim} dimension(s)")
    return int(axis) % max(ndim, 1)


def normalize_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...]:
    """``None``, an int or a tuple of ints as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if ndim == 0:  # axis 0 or -1 of a 0-d tensor (normalize_axis): a reduction over nothing
        for a in axis if isinstance(axis, (tuple, list)) else (axis,):
            normalize_axis(a, 0, op)
        return ()
    if isinstance(axis, (tuple, list)):
        axes = tuple(normalize_axis(a, ndim, op) for a in axis)
        if len(set(axes)) != len(axes):
            raise InvalidArgumentError(f"{op}: repeated axis in {axis!r}; each axis may appear once")
        return tuple(sorted(axes))
    return (normalize_axis(axis, ndim, op),)


def uplo_arg(value: Any, op: str) -> str:
    """NumPy's ``UPLO``, the triangle a symmetric solver reads: "L" or "U" (NumPy takes "l" and "u" too)."""
    uplo = text(value, op, "UPLO").upper()
    if uplo not in ("L", "U"):
        raise InvalidArgumentError(f"{op}: UPLO must be 'L' or 'U', got {value!r}")
    return uplo


def shape_arg(shape: Any, op: str) -> tuple[int, ...]:
    """A shape given as a tuple, a list, or separate integers, as a tuple of ints."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
        raise ArgumentTypeError(f"{op}: a shape must be integers, got {shape!r}") from None
    if any(isinstance(d, bool) for d in shape) or any(not isinstance(d, (int, np.integer)) for d in shape):
        raise ArgumentTypeError(f"{op}: a shape must be integers, got {shape!r}")
    return dims
